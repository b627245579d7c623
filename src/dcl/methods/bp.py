"""Backpropagation: the same network trained end to end with one cross-entropy loss at the head.

``bp`` runs each batch whole. Its memory savers (``bp-accum``, ``bp-ckpt``: methods/bp_savers.py)
reuse :meth:`Backprop.update`, which splits the batch into ``micro_batches`` when they allow it.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..optim import autocast
from .base import METHODS, Method


class Backprop(Method):
    """End-to-end backpropagation with one optimizer over the whole network (the BP baseline)."""

    def build(self) -> None:
        self.opt = self.add_optimizer(self.net.parameters())

    def logits(self, x: Tensor) -> Tensor:
        """The network's forward pass ``(B, ...) -> (B, Z)`` (``bp-ckpt`` checkpoints it)."""
        return self.net(x)

    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        total = None
        for xm, ym, weight in self.split_batch(x, y):  # one part unless micro_batches > 1
            with autocast(self.cfg, self.device):
                loss = F.cross_entropy(self.logits(xm), ym)
            (loss * weight if weight != 1.0 else loss).backward()  # gradients add up over the parts
            self.after_backward()
            part = loss.detach() * weight
            total = part if total is None else total + part
        self.optimizer_step(self.opt)  # also frees the gradients now, not after the next forward
        return {"loss": total}

    def after_backward(self) -> None:
        """Called after each (micro-)batch's backward (``bp-ckpt`` restores BatchNorm statistics)."""


METHODS.register("bp", Backprop, description="backpropagation: one cross-entropy loss at the head, end to end")
