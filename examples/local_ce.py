"""A local-learning method of your own, as a plugin: every block learns from a small linear
classifier of its own, with label smoothing, and a stop-gradient between blocks.

    dcl train --plugin examples/local_ce.py --method local-ce --arch fc --data mnist \
        --set local_ce_smoothing=0.1 --epochs 1

The walk-through is docs/own-method.md.
"""
import torch.nn.functional as F
from torch import Tensor, nn

from dcl.config import Option
from dcl.config.rules import real
from dcl.methods import METHODS, LocalMethod


class LocalCrossEntropy(LocalMethod):
    """Block i: logits = W_i pool(h_i) (B, Z); loss = CE with label smoothing."""

    #: this method's own hyperparameters: --set local_ce_smoothing=0.2, checked, saved, resumed
    options = (
        Option("local_ce_smoothing", float, 0.1, real(0, 1, hi_open=True),
               "label smoothing of every block's local cross-entropy, in [0, 1)"),
    )
    layerwise = True  # every block's classifier also predicts: dcl eval reports block:N errors

    def build_aux(self) -> None:
        """One Linear(C_i, Z) per block; C_i = the block's output width (channels of a map)."""
        shapes = self.net.tap_shapes(None)
        self.aux = nn.Module()
        self.aux.heads = nn.ModuleList(nn.Linear(s[0] if len(s) == 3 else s[-1], self.net.num_classes)
                                       for s in shapes)

    def block_params(self, i: int) -> list[nn.Parameter]:
        return list(self.aux.heads[i].parameters())  # stepped by block i's optimizer

    def block_logits(self, i: int, h: Tensor) -> Tensor:
        """``h``: (B, C, H, W) is average-pooled to (B, C); (B, F) is used as it is."""
        pooled = h.mean(dim=(2, 3)) if h.dim() == 4 else h.flatten(1)
        return self.aux.heads[i](pooled)

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(self.block_logits(i, h), y, label_smoothing=self.cfg.local_ce_smoothing)


METHODS.register("local-ce", LocalCrossEntropy,
                 description="local cross-entropy: a linear classifier per block, label smoothing (example plugin)")
