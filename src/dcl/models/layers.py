"""Layer building blocks shared by the networks.

* :class:`Tap`, an identity that names a point inside a block where a local loss may read the
  block's tensor (see :meth:`dcl.models.LocalNet.block_forward`);
* the factories the network builders call: :func:`make_activation`, :func:`make_dropout`,
  :func:`make_norm_act`, :func:`make_maxpool`. With ``lean=True`` (``cfg.lean_layers``, the
  default) they return the lean exact layers of :mod:`dcl.models.lean` (same outputs and
  gradients, less kept for backward), else torch's plain layers.
"""
from __future__ import annotations

from torch import nn

from ..config.options import Option
from ..config.rules import BIG, choice, flag, integer, integers
from .bn_act import BatchNormAct1d, BatchNormAct2d
from .lean import LeanDropout, LeanDropout2d, LeanMaxPool2d

#: hidden activations a network can be built with (``activation``)
ACTIVATIONS = ("relu", "leaky_relu", "tanh")
#: how conv blocks drop units (``dropout_kind``)
DROPOUT_KINDS = ("channel", "element")

# --- network options shared by several networks (each network lists the ones it reads) ------
WIDTH = Option("width", int, 1024, integer(1, BIG), "hidden width D of the FC layers")
CHANNELS = Option("channels", tuple[int, ...], (64, 256), integers(1, BIG, nonempty=True),
                  "conv channels per block (stride 1, 2, 2, ...)")
ACTIVATION = Option("activation", str, "relu", choice(*ACTIVATIONS),
                    "hidden activation: relu | leaky_relu (N&E sim/predsim) | tanh")
DROPOUT_KIND = Option("dropout_kind", str, "channel", choice(*DROPOUT_KINDS),
                      "conv blocks: channel (Dropout2d, authors' VGG8B code) | element (Table VIII)")
SEGMENTS = Option("segments", int, 8, integer(1, BIG), "K: a flat block's width D read as K segments of D/K")
HEAD_RELU = Option("head_relu", bool, False, flag, "FC: ReLU on the logits, as the authors' code (Table VI has none)")

__all__ = ["ACTIVATION", "CHANNELS", "DROPOUT_KIND", "HEAD_RELU", "SEGMENTS", "WIDTH", "LeanDropout", "LeanDropout2d", "LeanMaxPool2d", "Tap", "lean_dropouts_", "make_activation",
           "make_dropout", "make_maxpool", "make_norm_act"]


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


def make_dropout(p: float, kind: str = "channel", lean: bool = True) -> nn.Module:
    """Dropout: ``channel`` drops whole channels of a conv map ``(B, C, H, W)`` (``nn.Dropout2d``,
    as the authors' VGG8B code does), ``element`` single values (``nn.Dropout``); ``lean``: the
    1-byte-mask forms (:class:`LeanDropout2d`, :class:`LeanDropout`)."""
    if kind == "channel":
        return LeanDropout2d(p) if lean else nn.Dropout2d(p)
    if kind == "element":
        return LeanDropout(p) if lean else nn.Dropout(p)
    raise ValueError(f"unknown dropout kind {kind!r}; valid: {DROPOUT_KINDS}")


def make_norm_act(channels: int, activation: str = "relu", lean: bool = True, dims: int = 2) -> list[nn.Module]:
    """BatchNorm (``dims`` = 2: ``(B, C, H, W)``, 1: ``(B, C)``) then ``activation``: one fused
    :class:`BatchNormAct2d` / :class:`BatchNormAct1d` with ``lean``, else the two torch layers.
    Either way the BatchNorm's parameters and buffers have the same names (index in a block)."""
    if lean:
        fused = BatchNormAct2d if dims == 2 else BatchNormAct1d
        return [fused(channels, activation=activation)]
    return [(nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(channels), make_activation(activation)]


def make_maxpool(kernel: int, lean: bool = True) -> nn.Module:
    """``kernel`` x ``kernel`` max-pool, stride ``kernel``: :class:`LeanMaxPool2d` (2-bit window
    positions) with ``lean``, else ``nn.MaxPool2d`` (int64 indices)."""
    return LeanMaxPool2d(kernel) if lean else nn.MaxPool2d(kernel)


def lean_dropouts_(module: nn.Module) -> nn.Module:
    """Replace every ``nn.Dropout`` / ``nn.Dropout2d`` inside ``module`` by its lean form, in place
    (for networks built from torch layers: ResNet, ViT, MLP-Mixer). Dropout has no parameters,
    so names and checkpoints do not change. Returns ``module``."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, LeanDropout(child.p))
            elif type(child) is nn.Dropout2d:
                setattr(parent, name, LeanDropout2d(child.p))
    return module
