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

from ..config.options import Option
from ..config.presets import PRESETS, register_preset
from ..config.rules import BIG, flag, integer, optional, real
from ..errors import DCLError
from ..models.base import LocalNet


# --- the local-learning baselines' own fields (N&E, InfoPro; App. J.2.4-J.2.5) ----------------
AUX_DIM = Option("aux_dim", int | None, None, optional(integer(1, BIG)),
                 "A: conv maps average-pooled to A values (C*h*w = A) before an aux head (N&E: 1024 at 28 px, "
                 "2048 at 32 px; bpf 4096); None = global average pool to C; tokens averaged, flat kept")
PROJ_DIM = Option("proj_dim", int, 128, integer(1, BIG), "ll-cont head output, ll-bpf label projection width")
LL_BETA = Option("ll_beta", float | None, None, optional(real(0, 1)),
                 "predsim / bpf: (1-beta) L_pred + beta L_sim, head CE x (1-beta); None = 0.99 (ll-predsim), 0.01 (ll-bpf)")
ZERO_HEAD = Option("zero_head", bool, False, flag, "N&E: the output layer's weight starts at zero (their local mode)")
CLASS_LIMITED = (
    Option("class_limited_epochs", int, 0, integer(0, BIG),
           "N&E CIFAR-100 sim/predsim: class-limited batches for this many epochs"),
    Option("class_limited_seeds", int, 20, integer(1, BIG),
           "... each batch starts from this many random samples, filled with their classes"),
)


def class_limited_loader(cfg) -> dict:
    """The training loader's class-limited sampling (N&E's CIFAR-100 sim / predsim / bpf)."""
    return dict(class_limited_epochs=cfg.class_limited_epochs, class_limited_seeds=cfg.class_limited_seeds)


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


# --- local-learning baselines: the ll-* methods' own recipes (REFERENCE-LL §5-8) -----------
# Nøkland & Eidnes' VGG8B recipes (Table 3 copies or reuses them; App. J.2.4, J.2.5): Adam, wd
# 0, batch 128, gamma 0.25, output layer from zero; ReLU (pred, cont, contrec) or LeakyReLU
# (sim, predsim, bpf); cont / contrec A = 1024 at 28 px, else 2048; bpf A 4096, beta 0.01
# (CIFAR-10 dropout 0.05); CIFAR-100 sim / predsim / bpf class-limited for 200 epochs.
# feat trains with the pair's (DCL's) preset, as the paper does. docs/baselines.md.
_NE_DATA = {  # data: (lr, epochs, milestones, dropout, A of pred / predsim)
    "mnist": (5e-4, 100, (50, 75, 89, 94), 0.2, 1024),
    "fashion-mnist": (5e-4, 200, (100, 150, 175, 188), 0.1, 1024),
    "cifar10": (5e-4, 400, (200, 300, 350, 375), 0.2, 2048),
    "cifar100": (5e-4, 400, (200, 300, 350, 375), 0.05, 4096),
    "svhn": (3e-4, 100, (50, 75, 89, 94), 0.3, 2048),
    "stl10": (5e-4, 400, (200, 300, 350, 375), 0.1, 2048),
}
_NE = dict(arch="vgg8b", optimizer="adam", weight_decay=0.0, batch_size=128, gamma=0.25, zero_head=True)


def _ll_presets() -> None:
    """Register the N&E-recipe presets ``{method}-vgg8b-{data}`` of the ll-* methods, and
    ``ll-cont-{arch}-cifar10`` for the Table V networks (DCL's recipe for each, InfoPro-style
    heads: global average pool or token mean -> Linear(C, 128), so ``aux_dim=None``)."""
    for data, (lr, epochs, milestones, dropout, a) in _NE_DATA.items():
        a_cont = 1024 if data in ("mnist", "fashion-mnist") else 2048
        limited = dict(class_limited_epochs=200) if data == "cifar100" else {}
        bpf_dropout = dict(dropout=0.05) if data == "cifar10" else {}
        for method, extra in (
                ("ll-pred", dict(activation="relu", aux_dim=a)),
                ("ll-sim", dict(activation="leaky_relu", **limited)),
                ("ll-predsim", dict(activation="leaky_relu", aux_dim=a, ll_beta=0.99, **limited)),
                ("ll-bpf", dict(activation="leaky_relu", aux_dim=4096, ll_beta=0.01, **limited, **bpf_dropout)),
                ("ll-cont", dict(activation="relu", aux_dim=a_cont)),
                ("ll-contrec", dict(activation="relu", aux_dim=a_cont, contrec_alpha=1.0))):
            v = {**_NE, "data": data, "lr": lr, "epochs": epochs, "milestones": milestones, "dropout": dropout,
                 **extra}
            register_preset(f"{method}-vgg8b-{data}",
                    f"{method}, VGG8B, {data} (N&E recipe): Adam wd 0, lr {lr:g}, {epochs} ep, dropout "
                    f"{v['dropout']:g}, {v['activation']}" + (f", A {v['aux_dim']}" if "aux_dim" in v else ""), **v)
    for arch in ("resnet32", "resnet32-w", "vit", "mlp-mixer"):
        register_preset(f"ll-cont-{arch}-cifar10", f"ll-cont, {arch}, CIFAR-10 (Table V): the {arch}-cifar10 recipe, "
                f"GAP / token mean -> Linear(C, 128) heads", **{**PRESETS.get(f"{arch}-cifar10"), "aux_dim": None})


_ll_presets()
