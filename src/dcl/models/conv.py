"""The paper's small convolutional network ("simple256", Table VI).

    block 1: Conv3x3(C_in, 64, stride 1, pad 1) -> BatchNorm -> ReLU -> [act] -> Dropout2d
    block 2: Conv3x3(64, 256, stride 2, pad 1) -> BatchNorm -> ReLU -> [act] -> Dropout2d
    [block 3: Conv3x3(256, 512, stride 2, pad 1) -> BatchNorm -> ReLU -> ...  (CIFAR-100 DCL-S net)]
    head:    global average pool -> Linear(C_last, Z)

``cfg.channels`` lists the block widths; the first conv has stride 1, the others stride 2.
``cfg.dropout`` drops whole channels at the end of each block, as the authors' code does
(``dropout_kind=element`` drops single values; the paper's presets use no dropout here).
``[act]`` is a :class:`~dcl.models.layers.Tap` before dropout. With ``lean_layers`` (the default)
BN -> ReLU is one fused layer that keeps only its input (parameter names unchanged).
Conv-MNIST: 151,562 parameters under BP, 154,122 with a 10x256 dictionary.
"""
from __future__ import annotations

from torch import nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet
from .layers import ACTIVATION, CHANNELS, DROPOUT_KIND, Tap, make_dropout, make_norm_act


def conv_bn_relu(c_in: int, c_out: int, stride: int, *, dropout: float = 0.0, dropout_kind: str = "channel",
                 activation: str = "relu", lean: bool = True) -> nn.Sequential:
    """``(B, c_in, H, W) -> (B, c_out, H/stride, W/stride)``: Conv3x3 -> BN -> act -> Tap("act") -> Dropout.
    ``lean``: BN -> act fused into one layer (:class:`~dcl.models.bn_act.BatchNormAct2d`), lean dropout."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), *make_norm_act(c_out, activation, lean),
                         Tap("act"), make_dropout(dropout, dropout_kind, lean))


@ARCHS.register("conv", description="2-conv network (64, 256) + GAP + linear head; 3-conv with channels=64,256,512 (Table VI)",
                options=(CHANNELS, ACTIVATION, DROPOUT_KIND))
def build_conv(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    channels = tuple(cfg.channels)
    if not channels or any(c < 1 for c in channels):
        raise DCLError(f"channels must be a non-empty list of positive widths, got {channels}")
    blocks, specs, c_in = [], [], in_shape[0]
    for i, c in enumerate(channels):
        blocks.append(conv_bn_relu(c_in, c, 1 if i == 0 else 2, dropout=cfg.dropout, dropout_kind=cfg.dropout_kind,
                                   activation=cfg.activation, lean=cfg.lean_layers))
        specs.append(BlockSpec(c, "map"))
        c_in = c
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))
    return LocalNet(blocks, head, specs, num_classes=num_classes, in_shape=in_shape, name="conv")
