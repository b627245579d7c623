"""Backpropagation: the same network trained end to end with one cross-entropy loss at the head."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import METHODS, Method


class Backprop(Method):
    """End-to-end backpropagation with one optimizer over the whole network (the BP baseline)."""

    def build(self) -> None:
        self.opt = self.add_optimizer(self.net.parameters())

    def train_step(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        loss = F.cross_entropy(self.net(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach()}


METHODS.register("bp", Backprop, description="backpropagation: one cross-entropy loss at the head, end to end")
