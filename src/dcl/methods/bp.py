"""Backpropagation: the same network trained end to end with one cross-entropy loss at the head."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..optim import autocast
from .base import METHODS, Method


class Backprop(Method):
    """End-to-end backpropagation with one optimizer over the whole network (the BP baseline)."""

    def build(self) -> None:
        self.opt = self.add_optimizer(self.net.parameters())

    def train_step(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        with autocast(self.cfg, self.device):
            loss = F.cross_entropy(self.net(x), y)
        loss.backward()
        self.optimizer_step(self.opt)  # also frees the gradients now, not after the next forward
        return {"loss": loss.detach()}


METHODS.register("bp", Backprop, description="backpropagation: one cross-entropy loss at the head, end to end")
