"""Lean exact layers: the same outputs and gradients as the torch layers they replace, with less
kept for backward. Every network uses them by default (``lean_layers=true``); measured in
docs/benchmarks.md, checked against the plain layers in tests/test_lean.py.

* :class:`LeanDropout` = ``nn.Dropout`` keeping a 1-byte mask. torch's CPU dropout keeps a float32
  tensor of 0 and 1/(1-p); ``torch.native_dropout`` draws the same mask from the same random
  stream (bit-identical output) and keeps it as bool. (On CUDA ``nn.Dropout`` already does.)
* :class:`LeanDropout2d` = ``nn.Dropout2d`` (whole channels) keeping a ``(B, C, 1, 1)`` bool mask,
  drawn as torch draws it (same output).
* :class:`LeanMaxPool2d` = ``nn.MaxPool2d`` keeping, per pooled output, the position of its
  maximum inside the window in 2 bits (a 2x2 window; up to 8 bits for a 16x16 one) instead of an
  int64 index into the input plane: 1/32 of the bytes. Backward rebuilds the indices exactly.
* :class:`~dcl.models.bn_act.BatchNormAct1d` / ``BatchNormAct2d``: BatchNorm and its activation
  fused, keeping only the input (:mod:`dcl.models.bn_act`).

With ``torch.is_grad_enabled()`` false or an input that needs no gradient, every layer runs the
plain torch op (nothing is kept either way). Under autocast (``--amp``) dropout and max-pool
stay lean.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair


def needs_grad(*tensors: Tensor | None) -> bool:
    """Will autograd keep anything for these tensors (grad mode on, one of them needs a gradient)?"""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# --- dropout ----------------------------------------------------------------------------------
class LeanDropout(nn.Dropout):
    """``nn.Dropout`` (``(*) -> (*)``, kept values scaled by 1/(1-p) in training) keeping a bool mask."""

    def __init__(self, p: float = 0.5):
        super().__init__(p, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0 or self.p == 1.0 or not needs_grad(x):
            return F.dropout(x, self.p, self.training)
        return torch.native_dropout(x, self.p, True)[0]  # autograd keeps its bool mask


class _ChannelDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, p: float) -> Tensor:
        # drawn exactly as torch's feature dropout draws it: one Bernoulli(1-p) per (b, c)
        noise = x.new_empty((x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)).bernoulli_(1.0 - p)
        noise.div_(1.0 - p)
        ctx.save_for_backward(noise != 0)
        ctx.p = p
        return x * noise

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (keep,) = ctx.saved_tensors
        return grad * keep.to(grad.dtype).div_(1.0 - ctx.p), None  # the forward's noise, rebuilt


class LeanDropout2d(nn.Dropout2d):
    """``nn.Dropout2d`` (``(B, C, H, W)``: whole channels zeroed with probability p, the rest
    scaled by 1/(1-p)) keeping a ``(B, C, 1, 1)`` bool mask instead of a float one."""

    def __init__(self, p: float = 0.5):
        super().__init__(p, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0 or self.p == 1.0 or x.dim() != 4 or not needs_grad(x):
            return F.dropout2d(x, self.p, self.training)
        return _ChannelDropout.apply(x, self.p)


# --- max-pool -----------------------------------------------------------------------------------
def _offset_bits(window: int) -> int:
    """Bits per pooled output needed to name a position in a window of ``window`` cells (0: too big)."""
    for bits in (1, 2, 4, 8):
        if window <= 1 << bits:
            return bits
    return 0


def pack_bits(values: Tensor, bits: int) -> Tensor:
    """Pack ``values`` (uint8, each < 2**bits) ``8 // bits`` to a byte: a flat uint8 tensor."""
    flat = values.reshape(-1)
    per = 8 // bits
    if per == 1:
        return flat.clone()
    pad = (-flat.numel()) % per
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    lanes = flat.view(-1, per)
    out = lanes[:, 0].clone()
    for j in range(1, per):
        out |= lanes[:, j] << (bits * j)
    return out


def unpack_bits(packed: Tensor, bits: int, n: int) -> Tensor:
    """Inverse of :func:`pack_bits`: the first ``n`` values, uint8."""
    per = 8 // bits
    if per == 1:
        return packed[:n]
    shifts = torch.arange(0, 8, bits, device=packed.device, dtype=torch.uint8)
    return ((packed.unsqueeze(1) >> shifts) & ((1 << bits) - 1)).reshape(-1)[:n]


def _window_grid(out_hw: tuple[int, int], stride, padding, device) -> tuple[Tensor, Tensor]:
    """Top-left input row / column of every pooled output's window: ``(OH, 1)`` and ``(1, OW)``."""
    oh, ow = out_hw
    rows = torch.arange(oh, device=device).mul_(stride[0]).sub_(padding[0]).view(oh, 1)
    cols = torch.arange(ow, device=device).mul_(stride[1]).sub_(padding[1]).view(1, ow)
    return rows, cols


class _MaxPool2dPacked(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, kernel, stride, padding, dilation, ceil_mode, bits) -> Tensor:
        out, idx = torch.ops.aten.max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode)
        w = x.shape[-1]
        rows, cols = _window_grid(out.shape[-2:], stride, padding, x.device)
        # idx = (r0 + kh*dh) * W + (c0 + kw*dw): recover (kh, kw), the position inside the window
        r = torch.div(idx, w, rounding_mode="floor")
        kw = idx - r * w - cols
        kh = r - rows
        del r, idx
        if dilation[0] != 1:
            kh = kh.div_(dilation[0], rounding_mode="floor")
        if dilation[1] != 1:
            kw = kw.div_(dilation[1], rounding_mode="floor")
        offsets = (kh * kernel[1] + kw).to(torch.uint8)
        ctx.save_for_backward(pack_bits(offsets, bits))
        ctx.meta = (x.shape, out.shape, kernel, stride, padding, dilation, bits,
                    x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (packed,) = ctx.saved_tensors
        in_shape, out_shape, kernel, stride, padding, dilation, bits, channels_last = ctx.meta
        offsets = unpack_bits(packed, bits, grad.numel()).view(out_shape).long()
        rows, cols = _window_grid(out_shape[-2:], stride, padding, grad.device)
        kh = torch.div(offsets, kernel[1], rounding_mode="floor")
        kw = offsets - kh * kernel[1]
        idx = (rows + kh * dilation[0]) * in_shape[-1] + (cols + kw * dilation[1])
        del offsets, kh, kw
        h, w = in_shape[-2:]
        if all(s >= (k - 1) * d + 1 for s, k, d in zip(stride, kernel, dilation)):
            # windows do not overlap: every input cell gets at most one gradient (the unpooling)
            gx = torch.ops.aten.max_unpool2d(grad.contiguous(), idx, [h, w])
        else:  # overlapping windows: add up (as max_pool2d's backward does)
            gx = grad.new_zeros(in_shape[:-2] + (h * w,))
            gx.scatter_add_(-1, idx.flatten(-2), grad.contiguous().flatten(-2))
            gx = gx.view(in_shape)
        if channels_last:
            gx = gx.contiguous(memory_format=torch.channels_last)
        return gx, None, None, None, None, None, None


def _window_views(t: Tensor, kernel, out_hw) -> list[Tensor]:
    """The ``kh * kw`` strided views ``t[..., i::kh, j::kw]`` (cut to ``out_hw``) of non-overlapping
    windows, in the row-major order in which max_pool2d scans a window (its first maximum wins)."""
    (kh, kw), (oh, ow) = kernel, out_hw
    return [t[..., i:i + kh * oh:kh, j:j + kw * ow:kw] for i in range(kh) for j in range(kw)]


class _MaxPool2dTiled(torch.autograd.Function):
    """Fast path of :class:`_MaxPool2dPacked` for windows that tile the input (stride = kernel,
    no padding or dilation): the position of each maximum comes from comparing the window's
    cells with the output (no int64 indices in forward); backward rebuilds the int64 indices
    from a small table and unpools. (A NaN in a window may send its gradient to another cell.)"""

    @staticmethod
    def forward(ctx, x: Tensor, kernel, bits) -> Tensor:
        out = F.max_pool2d(x, kernel, kernel)
        views = _window_views(x, kernel, out.shape[-2:])
        # first maximum in scan order: offset = n0 (1 + n1 (1 + n2 (...))), n_p = "cell p is not the max"
        offsets = torch.zeros_like(out, dtype=torch.uint8)
        for view in reversed(views[:-1]):
            offsets.add_(1).mul_(view != out)
        ctx.save_for_backward(pack_bits(offsets, bits))
        ctx.meta = (x.shape, out.shape, kernel, bits,
                    x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (packed,) = ctx.saved_tensors
        in_shape, out_shape, kernel, bits, channels_last = ctx.meta
        (kh, kw), (h, w), (oh, ow) = kernel, in_shape[-2:], out_shape[-2:]
        offsets = unpack_bits(packed, bits, grad.numel()).view(out_shape).long()
        # index of cell p of window (r, c) in the input plane: (r kh + p // kw) W + c kw + p % kw
        cell = torch.tensor([(p // kw) * w + p % kw for p in range(kh * kw)], device=grad.device)
        corner = (torch.arange(oh, device=grad.device) * (kh * w)).view(oh, 1) + torch.arange(ow, device=grad.device) * kw
        idx = torch.take(cell, offsets).add_(corner)
        del offsets
        gx = torch.ops.aten.max_unpool2d(grad.contiguous(), idx, [h, w])
        if channels_last:
            gx = gx.contiguous(memory_format=torch.channels_last)
        return gx, None, None


class LeanMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` (``(B, C, H, W) -> (B, C, H', W')``, same arguments and output) whose
    backward needs only the position of each maximum inside its window, kept in 2 bits for a
    2x2 window (int64 indices: 64 bits)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, return_indices=False, ceil_mode=ceil_mode)

    def forward(self, x: Tensor) -> Tensor:
        k = tuple(_pair(self.kernel_size))
        bits = _offset_bits(k[0] * k[1])
        if not needs_grad(x) or bits == 0 or x.dim() != 4:
            return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        s = tuple(_pair(self.stride if self.stride is not None else self.kernel_size))
        pad, dil = tuple(_pair(self.padding)), tuple(_pair(self.dilation))
        if s == k and pad == (0, 0) and dil == (1, 1) and not (self.ceil_mode and (x.shape[-2] % k[0] or x.shape[-1] % k[1])):
            return _MaxPool2dTiled.apply(x, k, bits)
        return _MaxPool2dPacked.apply(x, list(k), list(s), list(_pair(self.padding)), list(_pair(self.dilation)),
                                      self.ceil_mode, bits)
