"""Direct Random Target Projection (Frenkel, Lefebvre & Bol 2021; REFERENCE-FL.md §5).

Each hidden layer k's learning signal is the one-hot target projected by a fixed random
matrix B_k (:class:`~dcl.losses.FixedFeedback`, a buffer in ``aux``) onto the layer's
activation (the block's ``Tap("act")``, before pooling), gated by the activation's
derivative; no output error is used and nothing travels backwards:

    h = x
    for block k:  out, h_k = block(sg[h])                    # one forward through layer k
                  loss_k = sum(h_k * sg[y* B_k])              # grad at h_k = y* B_k (summed over the batch)
                  step layer k's optimizer                    # during the forward pass
                  h = out
    output layer: its own loss on sg[h]: sigmoid + BCE (mean over B*Z) or softmax + CE

Inference is one forward pass (``head``). Works on DRTP's own ``drtp-fc`` / ``drtp-conv`` and on
any other network (``fc``, ``conv``: there the signal reaches the block's activation and trains
the layers of that block).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..losses import FixedFeedback, drtp_loss
from ..optim import autocast
from .base import METHODS
from .label_overlay import one_hot
from .local import LocalMethod


class DRTP(LocalMethod):
    """DRTP: hidden layers learn from y* B_k, the output layer from its own loss."""

    feature_tap = "act"

    def build(self) -> None:
        self.build_aux()
        # a block without trainable parameters (drtp_freeze_conv) has no optimizer
        self.block_opts = [self.add_optimizer(ps) if (ps := trainable(block)) else None
                           for block in self.net.blocks]
        self.head_opt = self.add_optimizer(self.net.head.parameters())
        self.shared_opt = None

    def build_aux(self) -> None:
        shapes = self.net.tap_shapes(self.feature_tap)
        self.aux = nn.Module()
        self.aux.feedback = nn.ModuleList(FixedFeedback(self.net.num_classes, s) for s in shapes)

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        target = one_hot(y, self.net.num_classes, h.dtype)
        return drtp_loss(h, self.aux.feedback[i](target))

    def head_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        if self.cfg.drtp_loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, one_hot(y, logits.shape[1], logits.dtype))
        return F.cross_entropy(logits, y)

    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        h, block_losses = x, []
        for i, (block, opt) in enumerate(zip(self.net.blocks, self.block_opts)):
            if opt is None:  # frozen random block: forward only
                with torch.no_grad(), autocast(self.cfg, self.device):
                    h = block(h)
                block_losses.append(torch.zeros((), device=h.device))
                continue
            h, loss = self.block_step(i, h, y)
            block_losses.append(loss / y.shape[0])  # reported per sample; the step used the sum
        with autocast(self.cfg, self.device):
            loss = self.head_loss(self.net.head(h), y)
        self.head_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_step(self.head_opt)
        return {"loss": loss.detach(), "block_losses": torch.stack(block_losses)}


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


METHODS.register("drtp", DRTP,
                 description="DRTP (Frenkel et al. 2021): hidden layers learn from the target through fixed random B_k")
