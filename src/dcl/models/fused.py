"""LayerNorm -> Linear on an input that needs no gradient, with one big matmul less in backward.

The FC network's block 2 and its head are ``LayerNorm(D) -> Linear(D, O)``. Under local training
their input is detached, yet autograd still computes the Linear's input gradient ``G W``
(``(B, O) x (O, D)``, as large as the forward) only to reach the LayerNorm's two affine vectors.
With ``x_hat`` the normalised input, ``y = gamma * x_hat + beta`` and ``G`` the output gradient,
everything follows from one weight-gradient product ``A = G^T x_hat`` (``(O, D)``):

    dW     = A diag(gamma) + (G^T 1) beta^T         (= G^T y)
    db     = G^T 1
    dgamma = sum_i W_ij A_ij                          (= sum_b x_hat_bj (G W)_bj)
    dbeta  = W^T (G^T 1)                              (= sum_b (G W)_bj)

so backward does one ``(O, B) x (B, D)`` matmul instead of two (forward, ``A``: two of the three).
It keeps ``x`` and the per-row mean and 1/std (the Linear would keep ``y``, the LayerNorm ``x``).

:class:`LeanSequential` is an ``nn.Sequential`` that runs every ``LayerNorm -> Linear`` pair this
way when the pair's input needs no gradient (local methods; BP's inputs need one and take the
plain path). The modules stay where they are, so parameter names and checkpoints do not change.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .layers import Tap

#: LayerNorm scales below this are not folded into the matmul (see backward)
_TINY = 1e-12


class _LayerNormLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, gamma: Tensor | None, beta: Tensor | None, eps: float, weight: Tensor,
                bias: Tensor | None) -> Tensor:
        d = x.shape[-1]
        y, mean, rstd = torch.native_layer_norm(x, (d,), gamma, beta, eps)  # the plain layers' kernels
        ctx.save_for_backward(x, mean, rstd, gamma, beta, weight)
        ctx.has_bias = bias is not None
        return F.linear(y, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, mean, rstd, gamma, beta, weight = ctx.saved_tensors
        o, d = weight.shape
        g = grad.reshape(-1, o)
        x_hat = ((x - mean) * rstd).reshape(-1, d)         # (N, D)
        # gamma is folded into the small (N, D) side: A_s = G^T (x_hat s) = A diag(s), s = gamma
        # (1 where |gamma| is tiny, so no column is lost), which saves a pass over (O, D)
        s = None
        if gamma is not None:
            tiny = gamma.abs() < _TINY
            s = torch.where(tiny, torch.ones_like(gamma), gamma)
            x_hat = x_hat * s
        a_s = g.t().mm(x_hat)                                # (O, D): the one weight-gradient product
        del x_hat
        g1 = g.sum(0)                                        # (O,) = G^T 1
        need_gamma = gamma is not None and ctx.needs_input_grad[1]
        need_weight = ctx.needs_input_grad[4]
        d_beta = g1.matmul(weight) if beta is not None and ctx.needs_input_grad[2] else None  # W^T (G^T 1)
        d_gamma = torch.zeros_like(gamma) if need_gamma else None
        rare = gamma is not None and bool(tiny.any())
        # row chunks of ~1 MiB: each chunk of A_s is still in cache when it is turned into dW
        rows = max(1, (1 << 20) // (4 * d))
        for r in range(0, o, rows):
            a_c = a_s[r:r + rows]
            if need_gamma:  # sum_i W_ij A_ij = sum_i W_ij (A_s)_ij / s_j
                d_gamma.add_(torch.mul(weight[r:r + rows], a_c).sum(0))
            if need_weight and not rare and beta is not None:
                a_c.addr_(g1[r:r + rows], beta)                  # dW = A diag(gamma) + (G^T 1) beta^T
        if need_gamma:
            d_gamma.div_(s)
        d_weight = a_s if need_weight else None
        if need_weight and rare:  # columns with |gamma| < _TINY were not scaled (s = 1): scale them now
            cols = tiny.nonzero().flatten()
            d_weight.index_copy_(1, cols, d_weight.index_select(1, cols) * gamma[cols])
            if beta is not None:
                d_weight.addr_(g1, beta)
        d_bias = g1 if ctx.has_bias and ctx.needs_input_grad[5] else None
        return None, d_gamma, d_beta, None, d_weight, d_bias


def fusable(norm: nn.Module, linear: nn.Module) -> bool:
    """Is ``norm -> linear`` a LayerNorm over the last dim feeding an ``nn.Linear`` of that width?"""
    return (isinstance(norm, nn.LayerNorm) and isinstance(linear, nn.Linear) and len(norm.normalized_shape) == 1
            and norm.normalized_shape[0] == linear.in_features)


def layer_norm_linear(x: Tensor, norm: nn.LayerNorm, linear: nn.Linear) -> Tensor:
    """``linear(norm(x))`` for ``x (*, D)``; fused (see the module doc) when ``x`` needs no
    gradient and the parameters do, else the plain layers."""
    params = [p for p in (norm.weight, norm.bias, linear.weight, linear.bias) if p is not None]
    if (x.requires_grad or not torch.is_grad_enabled() or not any(p.requires_grad for p in params)
            or torch.is_autocast_enabled(x.device.type)):
        return linear(norm(x))
    return _LayerNormLinear.apply(x, norm.weight, norm.bias, norm.eps, linear.weight, linear.bias)


class LeanSequential(nn.Sequential):
    """``nn.Sequential`` that runs each ``LayerNorm -> Linear`` pair with :func:`layer_norm_linear`.

    Same modules, parameter names and outputs as ``nn.Sequential``; :meth:`forward_tap` also
    returns the tensor at a :class:`~dcl.models.layers.Tap` (see ``LocalNet.block_forward``).
    """

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_tap(x, None)[0]

    def forward_tap(self, h: Tensor, tap: str | None) -> tuple[Tensor, Tensor]:
        """``(output, feature)``: the feature is the tensor at the Tap named ``tap`` (else the output)."""
        mods = list(self)
        feature = None
        i = 0
        while i < len(mods):
            m = mods[i]
            if i + 1 < len(mods) and fusable(m, mods[i + 1]):
                h = layer_norm_linear(h, m, mods[i + 1])
                i += 2
                continue
            h = m(h)
            if tap is not None and isinstance(m, Tap) and m.name == tap:
                feature = h
            i += 1
        return h, h if feature is None else feature
