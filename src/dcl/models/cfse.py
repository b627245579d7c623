"""CwComp's CFSE network (Papachristodoulou et al., AAAI 2024; code andreaspapac/CwComp,
src/Models.py ``CW_Comp`` with ``CFSE=True`` and src/Layer_cnn.py ``Conv_Layer``): four conv
layers, each a block with its own loss; the odd ones (the "channel-wise feature separator and
extractor") are grouped convolutions with one group per class, followed by a 2x2 max-pool.

    block i: Conv3x3(C_{i-1}, C_i, pad 1, groups = Z if i is odd else 1) -> ReLU
             -> [MaxPool 2x2 if i is odd] -> BatchNorm(C_i, eps 1e-4)
    head:    Flatten -> Linear(C_4 H W, Z)     (the reference's softmax predictor "sf")

``cfse_channels`` (default MNIST / Fashion-MNIST: 20, 80, 240, 480; the reference's CIFAR set is
60, 120, 240, 400, 800, 1600). Every odd width must be divisible by Z. On 1x28x28 inputs with
Z = 10: 280,560 parameters in the blocks and 235,210 in the head (515,770 in all);
tests/test_label_embedding.py checks the count against the reference code's layer sizes.
"""
from __future__ import annotations

import math

from torch import nn

from ..config.options import Option
from ..config.rules import BIG, integers
from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet

CFSE_CHANNELS = Option("cfse_channels", tuple[int, ...], (20, 80, 240, 480), integers(1, BIG, nonempty=True),
                       "CFSE conv widths; odd layers are class-grouped and max-pooled (CwComp)")


def cfse_block(c_in: int, c_out: int, grouped: bool, num_classes: int) -> nn.Sequential:
    """``(B, c_in, H, W) -> (B, c_out, H', W')``: Conv3x3 (class-grouped if ``grouped``) -> ReLU
    -> [MaxPool 2x2 if ``grouped``] -> BatchNorm (eps 1e-4), CwComp's ``Conv_Layer`` order."""
    groups = num_classes if grouped else 1
    if c_in % groups or c_out % groups:
        raise DCLError(f"a CFSE grouped layer needs widths divisible by Z={num_classes}, got {c_in} -> {c_out}")
    layers = [nn.Conv2d(c_in, c_out, 3, 1, 1, groups=groups), nn.ReLU()]
    if grouped:
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out, eps=1e-4))


@ARCHS.register("cfse", description="CwComp's CFSE CNN: 4 conv blocks, odd ones class-grouped + max-pooled (AAAI 2024)",
                options=(CFSE_CHANNELS,))
def build_cfse(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    blocks, specs, c_in, size = [], [], in_shape[0], list(in_shape[1:])
    for i, c in enumerate(cfg.cfse_channels):
        blocks.append(cfse_block(c_in, c, i % 2 == 1, num_classes))
        specs.append(BlockSpec(c, "map"))
        c_in = c
        if i % 2 == 1:
            size = [s // 2 for s in size]
    head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * math.prod(size), num_classes))
    return LocalNet(blocks, head, specs, num_classes=num_classes, in_shape=in_shape, name="cfse")
