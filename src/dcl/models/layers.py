"""Memory-lean drop-in layers: the same forward and gradients as the torch layers they
replace, with less kept for backward (measured in docs/benchmarks.md).

* :class:`LeanMaxPool2d` = ``nn.MaxPool2d`` that keeps no int64 index tensor: its backward
  recomputes the argmax positions from its input, which the ReLU before it keeps anyway
  (same storage, so nothing new is held). VGG8B at 32 px, batch 128: 111 MB less per BP step
  (the indices are 8 bytes per pooled output, half the bytes of the pooled input).
* :class:`LeanDropout` = ``nn.Dropout`` that keeps a 1-byte mask instead of a float32 one
  (torch's CPU dropout keeps a full float tensor of 0 and 1/(1-p)).

And :class:`Tap`, an identity that names a point inside a block where a local loss may read
the block's tensor (see :meth:`dcl.models.LocalNet.block_forward`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

from ..config import ACTIVATIONS, DROPOUT_KINDS


class _MaxPool2dRecompute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, kernel, stride, padding, dilation, ceil_mode) -> Tensor:
        ctx.save_for_backward(x)
        ctx.args = (kernel, stride, padding, dilation, ceil_mode)
        return F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        _, idx = torch.ops.aten.max_pool2d_with_indices(x, *ctx.args)
        gx = torch.ops.aten.max_pool2d_with_indices_backward(grad, x, *ctx.args, idx)
        return gx, None, None, None, None, None


class LeanMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` (``(B, C, H, W) -> (B, C, H', W')``, same arguments and output) whose
    backward recomputes the argmax indices instead of keeping them."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, return_indices=False, ceil_mode=ceil_mode)

    def forward(self, x: Tensor) -> Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        k = list(_pair(self.kernel_size))
        s = list(_pair(self.stride if self.stride is not None else self.kernel_size))
        return _MaxPool2dRecompute.apply(x, k, s, list(_pair(self.padding)), list(_pair(self.dilation)),
                                         self.ceil_mode)


class _DropoutBoolMask(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, p: float) -> Tensor:
        keep = torch.rand_like(x) >= p  # (same shape) bool: 1 byte per element
        scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x * keep * scale

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (keep,) = ctx.saved_tensors
        return grad * keep * ctx.scale, None


class LeanDropout(nn.Dropout):
    """``nn.Dropout`` (element-wise, scaled by 1/(1-p) in training) keeping a bool mask."""

    def __init__(self, p: float = 0.5):
        super().__init__(p, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0 or not (torch.is_grad_enabled() and x.requires_grad):
            return F.dropout(x, self.p, True)
        return _DropoutBoolMask.apply(x, self.p)


class Tap(nn.Identity):
    """An identity layer that names a read-out point inside a block (``(*) -> (*)``, no-op).

    Local-learning papers read a block at different points: DCL takes its loss on the block's
    output (after pooling and dropout), Nøkland & Eidnes on the activation before them. A block
    built as ``nn.Sequential(conv, bn, relu, Tap("act"), pool, dropout)`` lets a method ask for
    the tensor at ``"act"`` in the same forward pass (no second pass, no copy of the network):
    :meth:`dcl.models.LocalNet.block_forward`. Layers after a tap must not work in place, or
    they would overwrite the tapped tensor.
    """

    def __init__(self, name: str):
        super().__init__()
        self.name = str(name)

    def extra_repr(self) -> str:
        return repr(self.name)



def make_activation(name: str) -> nn.Module:
    """The hidden activation ``name``: ``relu``, ``leaky_relu`` (slope 0.01, Nøkland & Eidnes'
    sim / predsim recipes) or ``tanh``. ReLU and LeakyReLU work in place (nothing after them
    may rely on their input)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01, inplace=True)
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation {name!r}; valid: {ACTIVATIONS}")


def make_dropout(p: float, kind: str = "channel") -> nn.Module:
    """Dropout for a conv map ``(B, C, H, W)``: ``channel`` drops whole channels
    (``nn.Dropout2d``, as the authors' VGG8B code does), ``element`` single values."""
    if kind == "channel":
        return nn.Dropout2d(p)
    if kind == "element":
        return nn.Dropout(p)
    raise ValueError(f"unknown dropout kind {kind!r}; valid: {DROPOUT_KINDS}")
