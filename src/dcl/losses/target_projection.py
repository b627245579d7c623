"""Direct Random Target Projection (Frenkel, Lefebvre & Bol 2021; REFERENCE-FL.md §5).

A hidden layer k learns from the one-hot target itself, projected to the layer's shape by a
fixed random matrix B_k: the signal at the layer's activation h_k is ``δh_k = y* B_k`` and
``ΔW_k = -η (δh_k ⊙ f'(a_k)) h_{k-1}^T``. Written as a local loss on ``h_k`` (input detached),

    loss_k = sum_{n, j} h_{k,nj} * sg[(y*_n B_k)_j]          (summed over the batch, as the repo)

whose gradient at h_k is exactly ``y* B_k``; autograd multiplies it by f'(a_k) and forms the
weight update inside the layer. Nothing travels from one layer to another.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FixedFeedback(nn.Module):
    """A fixed random projection ``B (Z, *shape)`` of one-hot targets onto a layer's output
    shape; a buffer, never trained (counted as *fixed feedback* by ``dcl describe``).

    Kaiming-uniform as the DRTP code initialises it: U(-sqrt(6 / F), sqrt(6 / F)) with
    F = prod(shape), the layer's unit count.
    """

    def __init__(self, num_classes: int, shape: tuple[int, ...], generator: torch.Generator | None = None):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        fan = math.prod(self.shape)
        bound = math.sqrt(6.0 / fan)
        weight = (torch.rand(num_classes, fan, generator=generator) * 2 - 1) * bound
        self.register_buffer("weight", weight.view(num_classes, *self.shape))

    def forward(self, target: Tensor) -> Tensor:
        """``target (B, Z)`` (one-hot) -> ``(B, *shape)``: ``target @ B``."""
        out = target.to(self.weight.dtype) @ self.weight.flatten(1)
        return out.view(target.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]} -> {'x'.join(map(str, self.shape))}"


def drtp_loss(h: Tensor, projected_target: Tensor) -> Tensor:
    """``sum(h * sg[projected_target])`` over the batch and units: its gradient at ``h (B, ...)``
    is ``projected_target`` (= y* B_k, same shape), DRTP's teaching signal."""
    return (h * projected_target.detach()).sum()
