"""DRTP's own networks (Frenkel, Lefebvre & Bol 2021; REFERENCE-FL.md §0, §5, decision 1).

``drtp-fc``: in-D-D-Z, tanh (``drtp_activation``), dropout on the input of every FC layer

    block 1: Flatten -> Dropout -> Linear(in, D) -> tanh -> [act]
    block 2: Dropout -> Linear(D, D) -> tanh -> [act]
    head:    Dropout -> Linear(D, Z)           (sigmoid + BCE or softmax + CE in the method)

MNIST, D = 1000: 785,000 + 1,001,000 + 10,010 = 1,796,010 parameters (the DCL paper prints
1.8M in its Table 1, the Conv table: its DRTP counts are swapped between Tables 1 and 2).

``drtp-conv``: the repo's conv nets, chosen by the input's channels (as VGG8B by its size):

    grey (MNIST):  Conv5x5(1, 32, pad 2) -> tanh -> [act] -> MaxPool 2;   FC block; head
    colour (CIFAR): Conv3x3(3, 64, pad 1) -> tanh -> [act] -> MaxPool 2;
                    Conv3x3(64, 256, pad 1) -> tanh -> [act] -> MaxPool 2; FC block; head
    FC block: Flatten -> Dropout -> Linear(F, D) -> tanh -> [act];   head: Dropout -> Linear(D, Z)

MNIST, D = 1000: 832 + 6,273,000 + 10,010 = 6,283,842 (printed as 6.3M in Table 2);
CIFAR-10: 1,792 + 147,712 + 16,385,000 + 10,010 = 16,544,514. ``drtp_freeze_conv`` keeps the
conv layers at their random init (frozen-random parameters; the repo's CIFAR example).
``[act]`` is the :class:`~dcl.models.layers.Tap` where DRTP's signal y* B_k arrives: after the
activation, before pooling (B_k has the pre-pool shape).
"""
from __future__ import annotations

import math

from torch import nn

from ..data.datasets import DatasetSpec
from .base import ARCHS, BlockSpec, LocalNet
from ..config.options import Option
from ..config.rules import choice, flag
from .layers import ACTIVATIONS, WIDTH, Tap, make_activation

#: (out channels, kernel, padding) of each conv layer, by input channels (repo: CONV_32_5_1_2,
#: CONV_64_3_1_1_CONV_256_3_1_1)
DRTP_ACTIVATION = Option("drtp_activation", str, "tanh", choice(*ACTIVATIONS),
                         "drtp-fc / drtp-conv hidden activation: tanh | relu | leaky_relu")
DRTP_FREEZE_CONV = Option("drtp_freeze_conv", bool, False, flag,
                          "drtp-conv: conv layers stay at their random init (frozen random)")
CONV_LAYERS = {1: ((32, 5, 2),), 3: ((64, 3, 1), (256, 3, 1))}


def fc_block(n_in: int, n_out: int, cfg, flatten: bool = False) -> nn.Sequential:
    """``(B, n_in) -> (B, n_out)``: [Flatten ->] Dropout -> Linear -> activation -> Tap("act")."""
    layers = [nn.Flatten()] if flatten else []
    layers += [nn.Dropout(cfg.dropout), nn.Linear(n_in, n_out), make_activation(cfg.drtp_activation), Tap("act")]
    return nn.Sequential(*layers)


def head(width: int, num_classes: int, cfg) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(width, num_classes))


@ARCHS.register("drtp-fc", description="DRTP's FC net: in-1000-1000-Z, tanh, dropout on FC inputs (width = D)",
                options=(WIDTH, DRTP_ACTIVATION))
def build_drtp_fc(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    d = cfg.width
    blocks = [fc_block(math.prod(in_shape), d, cfg, flatten=True), fc_block(d, d, cfg)]
    specs = [BlockSpec(d, "flat", 1), BlockSpec(d, "flat", 1)]
    return LocalNet(blocks, head(d, num_classes, cfg), specs, num_classes=num_classes, in_shape=in_shape,
                    name="drtp-fc")


@ARCHS.register("drtp-conv", description="DRTP's conv net: conv 32 5x5 (grey) or 64, 256 3x3 (colour), "
                                         "+ FC 1000 + Z, tanh",
                options=(WIDTH, DRTP_ACTIVATION, DRTP_FREEZE_CONV))
def build_drtp_conv(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    c_in, h, w = in_shape
    layers = CONV_LAYERS.get(c_in, CONV_LAYERS[3])
    blocks, specs = [], []
    for c_out, k, pad in layers:
        conv = nn.Conv2d(c_in, c_out, k, 1, pad)
        if cfg.drtp_freeze_conv:
            conv.requires_grad_(False)
        blocks.append(nn.Sequential(conv, make_activation(cfg.drtp_activation), Tap("act"), nn.MaxPool2d(2)))
        specs.append(BlockSpec(c_out, "map"))
        c_in, h, w = c_out, (h + 2 * pad - k + 1) // 2, (w + 2 * pad - k + 1) // 2
    d = cfg.width
    blocks.append(fc_block(c_in * h * w, d, cfg, flatten=True))
    specs.append(BlockSpec(d, "flat", 1))
    return LocalNet(blocks, head(d, num_classes, cfg), specs, num_classes=num_classes, in_shape=in_shape,
                    name="drtp-conv")
