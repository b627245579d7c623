"""What the local-learning baselines' auxiliary networks read, and how big they are.

Nøkland & Eidnes (N&E) and InfoPro attach a small network to every block; its input is the
block's tensor at the method's read-out point (``feature_tap``: the activation before pool
and dropout for N&E, REFERENCE-LL §0), reduced to a vector:

* conv maps ``(B, C, H, W)``: adaptive average pooling to an ``h x w`` grid with
  ``C*h*w = A`` (``aux_dim``; REFERENCE-LL decision 2: P = A/C positions,
  h = 2^floor(log2(P)/2), w = P/h, so 32 px / A = 2048 gives N&E's grids 4x4, 2x4, 2x4, 2x2,
  2x2, 2x2), flattened to A values; with ``aux_dim=None`` (or C >= A) a global average pool
  to C values (the ResNet heads behind Table V);
* token tensors ``(B, P, C)``: the mean over tokens, C values;
* flat vectors ``(B, F)``: as they are (VGG8B's FC layer feeds its 1024 units directly,
  decision 1).

:meth:`LocalNet.tap_shapes` finds the tensor shape at the tap of every block by running one dummy
batch (eval mode, no gradients, the global RNG untouched), so a head can be sized for any
network, including a user's ``make_local`` one.
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DCLError
from ..models.base import LocalNet


def pool_grid(channels: int, dim: int | None) -> tuple[int, int] | None:
    """The ``(h, w)`` grid a ``channels``-channel map is pooled to so that ``C*h*w = dim``, or
    None for a global average pool (``dim`` None, or ``channels >= dim``)."""
    if dim is None:
        return None
    positions = dim // channels
    if positions <= 1:
        return None
    h = 2 ** (int(math.log2(positions)) // 2)
    return h, positions // h


def pool_map(h: Tensor, dim: int | None) -> Tensor:
    """``(B, C, H, W) -> (B, C, h, w)``: average-pool to the :func:`pool_grid` (1x1 for a global pool)."""
    return F.adaptive_avg_pool2d(h, pool_grid(h.shape[1], dim) or 1)


def aux_input(h: Tensor, dim: int | None) -> Tensor:
    """A block's tensor as one vector per sample for an aux head (module doc):
    ``(B, C, H, W) -> (B, C*h*w)``, ``(B, P, C) -> (B, C)``, ``(B, F) -> (B, F)``."""
    if h.dim() == 4:
        return pool_map(h, dim).flatten(1)
    if h.dim() == 3:
        return h.mean(dim=1)
    if h.dim() == 2:
        return h
    raise DCLError(f"an auxiliary head reads (B, C, H, W), (B, P, C) or (B, F) tensors, got {tuple(h.shape)}")


def aux_input_width(shape: tuple[int, ...], dim: int | None) -> int:
    """Width of :func:`aux_input` for a tensor of ``shape`` (without the batch dimension)."""
    if len(shape) == 3:
        grid = pool_grid(shape[0], dim)
        return shape[0] * (grid[0] * grid[1] if grid else 1)
    if len(shape) == 2:
        return shape[1]
    if len(shape) == 1:
        return shape[0]
    raise DCLError(f"an auxiliary head reads (B, C, H, W), (B, P, C) or (B, F) tensors, got (B, {shape})")


def std_reduce(h: Tensor) -> Tensor:
    """N&E's similarity read-out: the per-channel standard deviation (unbiased) over the
    positions of a map ``(B, C, H, W)`` with C > 3 and H > 1, or over the tokens of
    ``(B, P, C)`` with P > 1, giving ``(B, C)``; anything else is flattened."""
    if h.dim() == 4 and h.shape[1] > 3 and h.shape[2] > 1:
        return h.flatten(2).std(dim=2)
    if h.dim() == 3 and h.shape[1] > 1:
        return h.std(dim=1)
    return h.flatten(1)


def zero_output_layer(net: LocalNet) -> None:
    """Zero the weight of the head's last Linear layer (N&E's local mode starts it at zero)."""
    last = [m for m in net.head.modules() if isinstance(m, nn.Linear)]
    if last:
        nn.init.zeros_(last[-1].weight)


def zero_linear(layer: nn.Linear) -> nn.Linear:
    """``layer`` with its weight set to zero (N&E's prediction heads; the bias keeps its init)."""
    nn.init.zeros_(layer.weight)
    return layer
