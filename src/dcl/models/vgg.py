"""VGG8B (Nøkland & Eidnes, 2019), as the DCL paper trains it (Tables VIII, IX; REFERENCE.md).

    blocks 1-6: Conv -> BatchNorm -> ReLU -> [act] -> [MaxPool 2x2] -> Dropout2d
                channels 128, 256 (pool), 256, 512 (pool), 512 (pool), 512 (pool)
                all convs 3x3, stride 1, padding 1, with bias; for 96 px inputs (STL-10) the
                first conv is 7x7, stride 2, padding 3
    block 7:    Flatten -> Linear(F, 1024) -> BatchNorm1d -> ReLU -> [act] -> Dropout
    head:       Linear(1024, Z)

F = 512 * s * s where s is the side left after the four pools: F = 512 (28 px: MNIST,
F-MNIST), 2048 (32 px: CIFAR, SVHN), 4608 (96 px: STL-10). The local loss reads each block's
output after pool and dropout (REFERENCE.md "Local training"): blocks 1-6 as conv maps
``(B, C, H, W)`` (K = H*W), block 7 as a flat ``(B, 1024)`` vector cut into K = 2 segments of
C = 512 (App. J.2.2). The paper's C_D = 512 (the widest block) is the dictionary width.

``[act]`` is a :class:`~dcl.models.layers.Tap`: the activation before pooling and dropout,
where Nøkland & Eidnes' methods (``ll-*``) take their local losses (REFERENCE-LL §0).

With ``lean_layers`` (the default) BN -> act is one fused layer keeping only the BN input, the
max-pool keeps 2 bits per output and dropout a 1-byte mask (:mod:`dcl.models.lean`; outputs,
gradients and parameter names as with torch's layers, ``--set lean_layers=false``).

Dropout on the conv blocks drops whole channels after the pool (``Dropout2d``), as the
authors' code that produced the paper's VGG8B numbers does (``dropout_kind=channel``, the
default); the paper's Table VIII lists an element-wise dropout, which
``--set dropout_kind=element`` gives. The FC block drops elements. The rate is ``cfg.dropout``
(the vgg8b-* presets hold the paper's per-dataset rates); ``cfg.activation`` picks the hidden
activation (LeakyReLU for N&E's sim / predsim recipes).

Parameters (BP / with the 10x512 dictionary): 32 px 8,903,434 / 8,908,554; 28 px (1 channel)
7,328,266 / 7,333,386; 96 px (STL-10) 11,540,234 / 11,545,354.
"""
from __future__ import annotations

from torch import nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet
from .layers import ACTIVATION, DROPOUT_KIND, Tap, make_dropout, make_maxpool, make_norm_act

#: (channels, max-pool after the block) of conv blocks 1-6 (Table VIII)
VGG8B_CONVS: tuple[tuple[int, bool], ...] = (
    (128, False), (256, True), (256, False), (512, True), (512, True), (512, True),
)
VGG8B_FC_WIDTH = 1024
VGG8B_FC_SEGMENTS = 2       # block 7: L_dict over 2 segments of 512 (App. J.2.2)
LARGE_INPUT = 64            # inputs at least this wide use the 7x7/s2 first conv (STL-10, 96 px)


def vgg_conv_block(c_in: int, c_out: int, *, pool: bool, dropout: float, kernel: int = 3,
                   stride: int = 1, dropout_kind: str = "channel", activation: str = "relu",
                   lean: bool = True) -> nn.Sequential:
    """``(B, c_in, H, W) -> (B, c_out, H', W')``: Conv -> BN -> act -> Tap("act") -> [MaxPool 2] -> Dropout.
    ``lean``: BN -> act fused, max-pool keeping 2-bit window positions, 1-byte dropout masks
    (:mod:`dcl.models.lean`); parameter names are the same either way."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2),
                               *make_norm_act(c_out, activation, lean), Tap("act")]
    if pool:
        layers.append(make_maxpool(2, lean))
    layers.append(make_dropout(dropout, dropout_kind, lean))
    return nn.Sequential(*layers)


def vgg8b_flat_features(in_shape: tuple[int, int, int]) -> int:
    """F, the width of the flattened block-6 output for inputs ``(C, H, W)``."""
    _, h, w = in_shape
    if min(h, w) >= LARGE_INPUT:  # 7x7, stride 2, padding 3
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    for _, pool in VGG8B_CONVS:
        if pool:
            h, w = h // 2, w // 2
    return VGG8B_CONVS[-1][0] * h * w


def vgg8b(in_shape: tuple[int, int, int], num_classes: int, *, dropout: float = 0.0,
          dropout_kind: str = "channel", activation: str = "relu", lean: bool = True) -> LocalNet:
    """VGG8B for inputs ``(C, H, W)``: 7 local blocks (6 conv, 1 FC) + a linear head."""
    c_in, h, w = in_shape
    if min(h, w) < 16:
        raise DCLError(f"vgg8b needs inputs of at least 16x16 pixels (it pools 4 times), got {h}x{w}")
    large = min(h, w) >= LARGE_INPUT
    blocks: list[nn.Module] = []
    specs: list[BlockSpec] = []
    for i, (c, pool) in enumerate(VGG8B_CONVS):
        first_large = i == 0 and large
        blocks.append(vgg_conv_block(c_in, c, pool=pool, dropout=dropout, dropout_kind=dropout_kind,
                                     activation=activation, kernel=7 if first_large else 3,
                                     stride=2 if first_large else 1, lean=lean))
        specs.append(BlockSpec(c, "map"))
        c_in = c
    f = vgg8b_flat_features(in_shape)
    blocks.append(nn.Sequential(nn.Flatten(), nn.Linear(f, VGG8B_FC_WIDTH),
                                *make_norm_act(VGG8B_FC_WIDTH, activation, lean, dims=1), Tap("act"),
                                make_dropout(dropout, "element", lean)))
    specs.append(BlockSpec(VGG8B_FC_WIDTH // VGG8B_FC_SEGMENTS, "flat", VGG8B_FC_SEGMENTS))
    head = nn.Linear(VGG8B_FC_WIDTH, num_classes)
    return LocalNet(blocks, head, specs, num_classes=num_classes, in_shape=in_shape, name="vgg8b")


@ARCHS.register("vgg8b", description="VGG8B: 6 conv blocks + FC 1024 (2 segments of 512) + linear head; "
                                     "28/32/96 px variants (Tables VIII, IX)",
                options=(ACTIVATION, DROPOUT_KIND))
def build_vgg8b(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    return vgg8b(in_shape, num_classes, dropout=cfg.dropout, dropout_kind=cfg.dropout_kind,
                 activation=cfg.activation, lean=cfg.lean_layers)
