"""Backprop-free pieces of LL-bpf (Nøkland & Eidnes' "bio" predsim; REFERENCE-LL §4; App. J.2.5).

* :class:`LabelProjection`: a fixed random map of one-hot labels to ``dim`` values,
  ``P = Linear(Z, dim, no bias)`` with PyTorch's default init, held as a buffer (never
  trained, never differentiated). Its codes give LL-bpf's two targets: the binary code
  ``(P y > 0)`` for the prediction loss (:func:`binary_code_targets`) and the real-valued
  ``P y`` whose similarity matrix is the target of the similarity loss.
* :class:`LinearFA`: a linear layer trained by feedback alignment (Lillicrap et al., 2016):
  the forward pass uses its weight ``W (out, in)``; the backward pass sends the error to the
  input through a fixed random matrix ``B`` of W's shape (uniform in +-1/sqrt(in)) instead of
  ``W`` (``grad_x = grad_y @ B``, never ``grad_y @ W``). ``W`` itself gets its usual gradient
  ``grad_y^T x``. ``W`` and the bias start at zero (N&E).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _LinearFAFunction(torch.autograd.Function):
    """y = x W^T + b; backward: dx = dy B (feedback), dW = dy^T x, db = sum dy."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight, feedback)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight, feedback = ctx.saved_tensors
        grad_x = grad @ feedback.to(grad.dtype) if ctx.needs_input_grad[0] else None
        grad_w = grad.t() @ x.to(grad.dtype) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


class LinearFA(nn.Module):
    """``(B, in) -> (B, out)`` linear layer whose input gradient uses the fixed ``feedback``
    buffer (feedback alignment). ``weight`` and ``bias`` are trainable and start at zero."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)
        self.register_buffer("feedback", torch.empty(out_features, in_features).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return _LinearFAFunction.apply(x, self.weight, self.bias, self.feedback)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, bias={self.bias is not None}, feedback fixed"


class LabelProjection(nn.Module):
    """A fixed random projection of one-hot labels, ``(B,) -> (B, dim)``: column ``y`` of the
    ``(dim, Z)`` buffer ``weight`` (Linear(Z, dim, no bias) init, never trained)."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes, self.dim = num_classes, dim
        self.register_buffer("weight", nn.Linear(num_classes, dim, bias=False).weight.detach().clone())

    def forward(self, labels: Tensor) -> Tensor:
        return self.weight.t()[labels]  # = one_hot(labels) @ weight^T, (B, dim)

    def extra_repr(self) -> str:
        return f"Z={self.num_classes}, dim={self.dim}, fixed"


def binary_code_targets(projected: Tensor) -> Tensor:
    """LL-bpf's prediction target: ``(P y > 0)`` as 0/1 floats, ``(B, dim)``."""
    return (projected > 0).to(projected.dtype)


def binary_code_loss(logits: Tensor, projected: Tensor) -> Tensor:
    """BCE-with-logits of ``logits (B, dim)`` against :func:`binary_code_targets`, mean over B*dim."""
    return F.binary_cross_entropy_with_logits(logits, binary_code_targets(projected))


def binary_code_scores(logits: Tensor, codes: Tensor) -> Tensor:
    """Layer-wise class scores ``(B, Z)``: the log-likelihood of each class's binary code
    ``codes (Z, dim)`` (0/1) under independent Bernoullis with ``logits (B, dim)``."""
    return F.logsigmoid(logits) @ codes.t() + F.logsigmoid(-logits) @ (1 - codes).t()
