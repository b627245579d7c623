"""BatchNorm and its activation fused into one lean exact layer (see :mod:`dcl.models.lean`).

:class:`BatchNormAct1d` / :class:`BatchNormAct2d` = ``BatchNorm`` followed by ``ReLU``,
``LeakyReLU`` or ``Tanh``, fused: it keeps only its input ``x`` (plus per-channel mean and
1/std) where the two layers keep ``x`` and the activation's output, and recomputes
``z = BN(x)`` in backward (the same kernel, so the same bits) to get the activation's
derivative, as in-place activated BatchNorm (Rota Bulò et al., 2018) recomputes from what it
keeps. Same parameters, buffers and state_dict keys as ``nn.BatchNorm1d/2d``; running
statistics are updated by the same kernel call.

With ``torch.is_grad_enabled()`` false or an input that needs no gradient it runs the plain
torch ops; under autocast (``--amp``) it runs as the two plain layers (autocast's dtype rules
apply).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .lean import needs_grad

#: activations :class:`BatchNormAct2d` can fuse (the names of ``cfg.activation``)
FUSABLE_ACTIVATIONS = ("relu", "leaky_relu", "tanh")


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
        if needs_grad(x, self.weight, self.bias):
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
