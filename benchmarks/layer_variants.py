"""Switch single lean layers of a built network back to torch's plain layers (for the ablations).

    unlean(net, {"pool", "bn", "drop", "ln"})

* ``pool``: LeanMaxPool2d -> nn.MaxPool2d (int64 indices)
* ``bn``:   BatchNormAct1d/2d -> BatchNorm1d/2d + the activation (the fused layer's state copied)
* ``drop``: LeanDropout / LeanDropout2d -> nn.Dropout / nn.Dropout2d
* ``ln``:   LeanSequential -> nn.Sequential (LayerNorm -> Linear through autograd)

Parameters and buffers stay the same tensors (the plain BN takes the fused one's), so a variant
trains the same network with the same optimizer; only what is kept for backward changes.
"""
from __future__ import annotations

from torch import nn

from dcl.models.fused import LeanSequential
from dcl.models.bn_act import BatchNormAct1d, BatchNormAct2d
from dcl.models.lean import LeanDropout, LeanDropout2d, LeanMaxPool2d

OPTIONS = ("pool", "bn", "drop", "ln")


def _plain_bn_act(m: nn.Module) -> list[nn.Module]:
    bn = (nn.BatchNorm2d if isinstance(m, BatchNormAct2d) else nn.BatchNorm1d)(m.num_features, m.eps, m.momentum)
    for name, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]:
        setattr(bn, name, t)  # the same tensors: the optimizer keeps training them
    act = {"relu": nn.ReLU(inplace=True), "leaky_relu": nn.LeakyReLU(m.negative_slope, inplace=True),
           "tanh": nn.Tanh()}[m.activation]
    return [bn, act]


def _convert(module: nn.Module, options: set[str]) -> nn.Module:
    """``module`` with the lean layers named in ``options`` made plain (children first)."""
    if "pool" in options and isinstance(module, LeanMaxPool2d):
        return nn.MaxPool2d(module.kernel_size, module.stride, module.padding)
    if "drop" in options and isinstance(module, LeanDropout2d):
        return nn.Dropout2d(module.p)
    if "drop" in options and isinstance(module, LeanDropout):
        return nn.Dropout(module.p)
    for name, child in list(module.named_children()):
        new = _convert(child, options)
        if new is not child:
            setattr(module, name, new)
    if isinstance(module, nn.Sequential):
        mods = []
        for m in module:
            mods += _plain_bn_act(m) if "bn" in options and isinstance(m, (BatchNormAct1d, BatchNormAct2d)) else [m]
        seq = nn.Sequential if "ln" in options or not isinstance(module, LeanSequential) else LeanSequential
        if len(mods) != len(module) or seq is not type(module):
            return seq(*mods)
    return module


def unlean(net: nn.Module, options: set[str]) -> nn.Module:
    bad = set(options) - set(OPTIONS)
    if bad:
        raise SystemExit(f"unknown layer option(s) {sorted(bad)}; valid: {OPTIONS}")
    return _convert(net, set(options))
