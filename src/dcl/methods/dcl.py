"""Dictionary Contrastive Learning: every block learns from L_dict (Eq. 2) against D^Z.

* ``dcl``   adaptive dictionary D^Z (Z x C_D, N(0,1) init), a parameter in every block's
            optimizer, so it takes L-1 sequential updates per batch (block l+1 sees the
            dictionary that block l just updated), as the authors run it.
            ``dict_update="accumulate"`` instead sums all blocks' gradients and takes one step.
* ``dcl-s`` static dictionary (t = sg[t]): a buffer, never updated (the FL setting).

The head f_L trains with cross-entropy on the detached last block output.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..losses import DictionaryContrastiveLoss
from .base import METHODS
from .local import LocalMethod


class DCL(LocalMethod):
    """DCL with an adaptive label-embedding dictionary D^Z (paper §4.2)."""

    layerwise = True
    static = False

    def build_aux(self) -> None:
        cfg = self.cfg
        dim = cfg.dict_dim or self.net.max_width
        self.aux = nn.Module()
        self.aux.dictionary = DictionaryContrastiveLoss(
            self.net.num_classes, dim, static=self.static, similarity=cfg.similarity,
            temperature=cfg.temperature, init=cfg.dict_init, norm=cfg.dict_norm,
        )

    @property
    def dictionary(self) -> DictionaryContrastiveLoss:
        return self.aux.dictionary

    def block_params(self, i: int) -> list[nn.Parameter]:
        if self.static or self.cfg.dict_update != "sequential":
            return []
        return [self.dictionary.weight]

    def shared_params(self) -> list[nn.Parameter]:
        if self.static or self.cfg.dict_update != "accumulate":
            return []
        return [self.dictionary.weight]

    def block_logits(self, i: int, h: Tensor) -> Tensor:
        return self.dictionary.logits(self.net.features(i, h), self.net.segments(i))

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        return self.dictionary(self.net.features(i, h), y, self.net.segments(i))


class StaticDCL(DCL):
    """DCL-S: static N(0,1) label embeddings that never change (paper §4.2, FL setting)."""

    static = True


METHODS.register("dcl", DCL, description="DCL: adaptive label dictionary D^Z, updated by every block's L_dict")
METHODS.register("dcl-s", StaticDCL, description="DCL-S: static N(0,1) dictionary (no updates; forward-learning setting)")
