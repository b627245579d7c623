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
* :class:`BatchNormAct1d` / :class:`BatchNormAct2d` = ``BatchNorm`` followed by ``ReLU``,
  ``LeakyReLU`` or ``Tanh``, fused: it keeps only its input ``x`` (plus per-channel mean and
  1/std) where the two layers keep ``x`` and the activation's output, and recomputes
  ``z = BN(x)`` in backward (the same kernel, so the same bits) to get the activation's
  derivative, as in-place activated BatchNorm (Rota Bulò et al., 2018) recomputes from what it
  keeps. Same parameters, buffers and state_dict keys as ``nn.BatchNorm1d/2d``; running
  statistics are updated by the same kernel call.

With ``torch.is_grad_enabled()`` false or an input that needs no gradient, every layer runs the
plain torch op (nothing is kept either way). Under autocast (``--amp``) the fused BN-activation
runs as the two plain layers (autocast's dtype rules apply); dropout and max-pool stay lean.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

#: activations :class:`BatchNormAct2d` can fuse (the names of ``cfg.activation``)
FUSABLE_ACTIVATIONS = ("relu", "leaky_relu", "tanh")


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# --- dropout ----------------------------------------------------------------------------------
class LeanDropout(nn.Dropout):
    """``nn.Dropout`` (``(*) -> (*)``, kept values scaled by 1/(1-p) in training) keeping a bool mask."""

    def __init__(self, p: float = 0.5):
        super().__init__(p, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0 or self.p == 1.0 or not _needs_grad(x):
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
        if not self.training or self.p == 0.0 or self.p == 1.0 or x.dim() != 4 or not _needs_grad(x):
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
        if not _needs_grad(x) or bits == 0 or x.dim() != 4:
            return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        s = tuple(_pair(self.stride if self.stride is not None else self.kernel_size))
        pad, dil = tuple(_pair(self.padding)), tuple(_pair(self.dilation))
        if s == k and pad == (0, 0) and dil == (1, 1) and not (self.ceil_mode and (x.shape[-2] % k[0] or x.shape[-1] % k[1])):
            return _MaxPool2dTiled.apply(x, k, bits)
        return _MaxPool2dPacked.apply(x, list(k), list(s), list(_pair(self.padding)), list(_pair(self.dilation)),
                                      self.ceil_mode, bits)


# --- fused BatchNorm + activation -----------------------------------------------------------------
def _activate_(z: Tensor, act: str, slope: float) -> Tensor:
    if act == "relu":
        return z.relu_()
    if act == "leaky_relu":
        return F.leaky_relu_(z, slope)
    return z.tanh_()


def _activation_backward(grad: Tensor, z: Tensor, act: str, slope: float) -> Tensor:
    """d act(z) / dz times ``grad``, with the kernels torch's own activations use in backward."""
    if act == "relu":
        return torch.ops.aten.threshold_backward(grad, z, 0)
    if act == "leaky_relu":
        return torch.ops.aten.leaky_relu_backward(grad, z, slope, False)
    return torch.ops.aten.tanh_backward(grad, z.tanh_())


def _recompute_bn(x: Tensor, weight, bias, a: Tensor, b: Tensor, training: bool, eps: float, verified: dict) -> Tensor:
    """``z = BN(x)`` as the forward computed it, from the statistics it kept (``a``, ``b``: the
    batch's mean and 1/std in training, else the running mean and variance).

    torch's CPU kernel computes ``z = x * alpha + beta`` per channel with ``alpha = w / std`` and
    ``beta = b - mean * alpha`` (fused multiply-adds); ``torch.addcmul`` with ``beta`` rounded
    once gives the same bits without another pass for the statistics. Whether it does on this
    device and layout is checked against the kernel on first use and remembered in ``verified``
    (the layer's own dict); where it does not (other kernels, other dtypes), the kernel reruns.
    """
    def kernel() -> Tensor:
        if training:  # the batch's own statistics again: the same reduction, the same bits
            return torch.native_batch_norm(x, weight, bias, None, None, True, 0.0, eps)[0]
        return torch.native_batch_norm(x, weight, bias, a, b, False, 0.0, eps)[0]

    layout = x.is_contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x.is_contiguous()
    key = (x.device.type, x.dtype, x.dim(), x.is_contiguous(), layout)
    if x.dtype != torch.float32 or verified.get(key) is False:
        return kernel()
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean, invstd = (a, b) if training else (a, 1 / torch.sqrt(b + eps))
    alpha = invstd * weight if weight is not None else invstd
    shift = bias.double() if bias is not None else torch.zeros_like(alpha, dtype=torch.float64)
    beta = (shift - mean.double() * alpha.double()).float()
    z = torch.addcmul(beta.view(shape), x, alpha.view(shape))
    if key not in verified:
        ref = kernel()
        verified[key] = bool(torch.equal(z, ref))
        return ref
    return z


class _BatchNormAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, act, slope, verified):
        z, mean, invstd = torch.native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
        if training:
            ctx.save_for_backward(x, weight, bias, mean, invstd)
        else:  # normalised by the running statistics: keep those (buffers: no extra bytes)
            ctx.save_for_backward(x, weight, bias, running_mean, running_var)
        ctx.conf = (training, eps, act, slope, verified)
        return _activate_(z, act, slope)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, weight, bias, a, b = ctx.saved_tensors
        training, eps, act, slope, verified = ctx.conf
        z = _recompute_bn(x, weight, bias, a, b, training, eps, verified)  # the forward's bits
        if training:
            stats = dict(running_mean=None, running_var=None, save_mean=a, save_invstd=b)
        else:
            stats = dict(running_mean=a, running_var=b, save_mean=None, save_invstd=None)
        gz = _activation_backward(grad, z, act, slope)
        del z
        mask = [ctx.needs_input_grad[0], weight is not None and ctx.needs_input_grad[1],
                bias is not None and ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
            gz, x, weight, stats["running_mean"], stats["running_var"], stats["save_mean"], stats["save_invstd"],
            training, eps, mask)
        return gx, gw, gb, None, None, None, None, None, None, None, None


class _BatchNormActMixin:
    """BatchNorm + activation in one layer; see the module doc. ``activation``: relu |
    leaky_relu (``negative_slope``) | tanh."""

    def _init_act(self, activation: str, negative_slope: float) -> None:
        if activation not in FUSABLE_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {FUSABLE_ACTIVATIONS}")
        self.activation = activation
        self.negative_slope = float(negative_slope)
        self._verified: dict = {}  # layouts where the backward's cheap recomputation matched (_recompute_bn)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        # the running-statistics bookkeeping of nn.BatchNorm's forward, unchanged
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        rm = self.running_mean if use_running else None
        rv = self.running_var if use_running else None
        if self.training and x.numel() // x.shape[1] <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        if torch.is_autocast_enabled(x.device.type):  # autocast's own dtype rules: the plain layers
            z = F.batch_norm(x, rm, rv, self.weight, self.bias, batch_stats, factor, self.eps)
            return _activate_(z, self.activation, self.negative_slope)
        if _needs_grad(x, self.weight, self.bias):
            return _BatchNormAct.apply(x, self.weight, self.bias, rm, rv, batch_stats, factor, self.eps,
                                       self.activation, self.negative_slope, self._verified)
        z = torch.native_batch_norm(x, self.weight, self.bias, rm, rv, batch_stats, factor, self.eps)[0]
        return _activate_(z, self.activation, self.negative_slope)

    def extra_repr(self) -> str:
        act = self.activation + (f"({self.negative_slope:g})" if self.activation == "leaky_relu" else "")
        return f"{super().extra_repr()}, activation={act}"


class BatchNormAct1d(_BatchNormActMixin, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` -> activation, fused (``(B, C)`` or ``(B, C, L)``)."""

    def __init__(self, num_features: int, activation: str = "relu", negative_slope: float = 0.01, **kwargs):
        super().__init__(num_features, **kwargs)
        self._init_act(activation, negative_slope)


class BatchNormAct2d(_BatchNormActMixin, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` -> activation, fused (``(B, C, H, W)``)."""

    def __init__(self, num_features: int, activation: str = "relu", negative_slope: float = 0.01, **kwargs):
        super().__init__(num_features, **kwargs)
        self._init_act(activation, negative_slope)
