"""CIFAR ResNet-32 (He et al., 2016) and its 4x wider variant ResNet-32-W, module-wise.

    stem:     Conv3x3(C_in, w0) -> BatchNorm -> ReLU                           (local module 1)
    stage 1:  5 basic blocks, w1 channels, stride 1                           (modules 2-6)
    stage 2:  5 basic blocks, w2 channels, the first with stride 2            (modules 7-11)
    stage 3:  5 basic blocks, w3 channels, the first with stride 2            (modules 12-16)
    head:     global average pool -> Linear(w3, Z)

    basic block: x -> Conv3x3(stride) -> BN -> ReLU -> [Dropout] -> Conv3x3 -> BN  (+ shortcut(x)) -> ReLU

Widths (w0, w1, w2, w3): ResNet-32 (16, 16, 32, 64); ResNet-32-W (64, 64, 128, 256).
Convolutions have no bias (a BatchNorm follows each). Where a block changes the shape, the
shortcut is a projection, Conv1x1(stride, no bias) -> BN ("option B"), as in the InfoPro code
the paper's ResNet-32 setup comes from (App. J.2.6, Wang et al. 2020); elsewhere it is the
identity. Conv weights are Kaiming-normal (fan-out), BN weight 1 / bias 0.

Every one of the 16 modules (the stem and the 15 residual blocks) is a local block with its
own loss (App. J.2.6: "16 local losses"); each outputs a conv map ``(B, C, H, W)`` read with
K = H*W. The dictionary width is the widest module: C_D = 64 (ResNet-32) or 256 (-W), so DCL
adds Δθ = 10x64 = 640 or 10x256 = 2,560 parameters on CIFAR-10 (Table V).

Parameters on CIFAR-10 under BP: ResNet-32 466,906 (the option-A network with identity/zero
padding shortcuts is 464,154; the two projections add 2,752); ResNet-32-W 7,427,914.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet
from .layers import lean_dropouts_

RESNET32_WIDTHS = (16, 16, 32, 64)
RESNET32_BLOCKS_PER_STAGE = 5


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection: ``(B, c_in, H, W) -> (B, c_out, H/s, W/s)``."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                                     nn.BatchNorm2d(c_out))
        else:
            self.shortcut = nn.Identity()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.dropout(self.bn1(self.conv1(x)).relu_())
        out = self.bn2(self.conv2(out))
        return (out + self.shortcut(x)).relu_()

    def extra_repr(self) -> str:
        return f"{self.c_in}->{self.c_out}, stride={self.stride}"


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def cifar_resnet(in_shape: tuple[int, int, int], num_classes: int, *,
                 widths: tuple[int, int, int, int] = RESNET32_WIDTHS,
                 blocks_per_stage: int = RESNET32_BLOCKS_PER_STAGE, dropout: float = 0.0,
                 name: str = "resnet32") -> LocalNet:
    """A CIFAR ResNet with ``6 * blocks_per_stage + 2`` layers: 1 stem + 3 stages of residual blocks.

    ``widths = (stem, stage 1, stage 2, stage 3)``. Local blocks: the stem and every residual
    block (``1 + 3 * blocks_per_stage`` of them).
    """
    if len(widths) != 4 or any(w < 1 for w in widths):
        raise DCLError(f"resnet widths must be 4 positive numbers (stem, stage 1-3), got {widths}")
    if blocks_per_stage < 1:
        raise DCLError(f"blocks_per_stage must be >= 1, got {blocks_per_stage}")
    stem = nn.Sequential(nn.Conv2d(in_shape[0], widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                         nn.ReLU(inplace=True))
    blocks: list[nn.Module] = [stem]
    specs = [BlockSpec(widths[0], "map")]
    c_in = widths[0]
    for stage, c in enumerate(widths[1:]):
        for j in range(blocks_per_stage):
            stride = 2 if stage > 0 and j == 0 else 1
            blocks.append(BasicBlock(c_in, c, stride, dropout))
            specs.append(BlockSpec(c, "map"))
            c_in = c
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))
    net = LocalNet(blocks, head, specs, num_classes=num_classes, in_shape=in_shape, name=name)
    _init_weights(net)
    return net


@ARCHS.register("resnet32", description="CIFAR ResNet-32 (16/32/64 ch): stem + 15 residual blocks = 16 "
                                        "local modules, GAP + linear head (App. J.2.3)")
def build_resnet32(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    net = cifar_resnet(in_shape, num_classes, widths=RESNET32_WIDTHS, dropout=cfg.dropout, name="resnet32")
    return lean_dropouts_(net) if cfg.lean_layers else net


@ARCHS.register("resnet32-w", description="ResNet-32-W: ResNet-32 with 4x the channels (64/128/256), "
                                          "16 local modules (App. J.2.3)")
def build_resnet32_w(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    widths = tuple(4 * w for w in RESNET32_WIDTHS)
    net = cifar_resnet(in_shape, num_classes, widths=widths, dropout=cfg.dropout, name="resnet32-w")
    return lean_dropouts_(net) if cfg.lean_layers else net
