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
from dcl.models.lean import BatchNormAct1d, BatchNormAct2d, LeanDropout, LeanDropout2d, LeanMaxPool2d

OPTIONS = ("pool", "bn", "drop", "ln")


def _plain_bn_act(m: nn.Module) -> list[nn.Module]:
    bn = (nn.BatchNorm2d if isinstance(m, BatchNormAct2d) else nn.BatchNorm1d)(m.num_features, m.eps, m.momentum)
    for name, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]:
        setattr(bn, name, t)  # the same tensors: the optimizer keeps training them
    act = {"relu": nn.ReLU(inplace=True), "leaky_relu": nn.LeakyReLU(m.negative_slope, inplace=True),
           "tanh": nn.Tanh()}[m.activation]
    return [bn, act]


def unlean(net: nn.Module, options: set[str]) -> nn.Module:
    bad = set(options) - set(OPTIONS)
    if bad:
        raise SystemExit(f"unknown layer option(s) {sorted(bad)}; valid: {OPTIONS}")
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if "pool" in options and isinstance(child, LeanMaxPool2d):
                setattr(parent, name, nn.MaxPool2d(child.kernel_size, child.stride, child.padding))
            elif "drop" in options and isinstance(child, LeanDropout2d):
                setattr(parent, name, nn.Dropout2d(child.p))
            elif "drop" in options and isinstance(child, LeanDropout):
                setattr(parent, name, nn.Dropout(child.p))
            elif isinstance(child, nn.Sequential):
                mods = []
                for m in child:
                    mods += _plain_bn_act(m) if "bn" in options and isinstance(m, (BatchNormAct1d, BatchNormAct2d)) \
                        else [m]
                seq = nn.Sequential if "ln" in options or not isinstance(child, LeanSequential) else LeanSequential
                if len(mods) != len(child) or seq is not type(child):
                    setattr(parent, name, seq(*mods))
    return net
