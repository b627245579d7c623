"""The Cascaded Forward network (Zhao et al. 2023; REFERENCE-FL.md §0, §4).

    block i:   Conv3x3(C_in, C_i, stride 1, pad 1) -> ReLU -> MaxPool 2 -> BatchNorm(eps 1e-4)
               frozen at PyTorch's default random init forever (BN affine stays 1 / 0)
    predictor: Flatten -> Linear(F_i, Z, no bias) on block i's output, one per block

``channels`` lists C_i (CaFo: 32, 128, 512). The predictors of blocks 1..L-1 are
``side_heads``; the last block's is the network's ``head`` (so ``net(x)`` gives its logits).
CaFo predicts with the sum of all predictors' softmaxes (``dcl.methods.cafo``). Predictors
start at all ones (the authors' CE init).

A frozen block is always in eval mode: its BatchNorm normalises with the statistics the CaFo
method computes over the whole training set (``running_mean`` / ``running_var``).

CIFAR-10 (32 px): F = 8192 per block, 3 x 8192 x 10 = 245,760 trainable parameters (the DCL
paper prints 243K); the frozen convs and BN hold 629,568. MNIST (28 px): F = 6272, 6272,
4608, so 171,520 trainable (DCL prints 243K there too).
"""
from __future__ import annotations

from torch import Tensor, nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .layers import CHANNELS
from .base import ARCHS, BlockSpec, LocalNet


class FrozenBlock(nn.Sequential):
    """``(B, C_in, H, W) -> (B, C_out, H/2, W/2)``: Conv3x3 -> ReLU -> MaxPool 2 -> BN, never
    trained (``requires_grad=False``) and always in eval mode."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(c_out, eps=1e-4))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FrozenBlock":
        return super().train(False)

    @property
    def bn(self) -> nn.BatchNorm2d:
        return self[3]

    def pre_norm(self, h: Tensor) -> Tensor:
        """The block up to its BatchNorm: conv -> ReLU -> pool."""
        return self[2](self[1](self[0](h)))


def predictor(features: int, num_classes: int) -> nn.Sequential:
    """``(B, C, H, W) -> (B, Z)``: Flatten -> bias-free Linear, weights all ones."""
    lin = nn.Linear(features, num_classes, bias=False)
    nn.init.ones_(lin.weight)
    return nn.Sequential(nn.Flatten(), lin)


class CaFoNet(LocalNet):
    """Frozen random blocks + one bias-free predictor per block (``side_heads`` + ``head``)."""

    def __init__(self, blocks, head, specs, *, side_heads: list[nn.Module], **kw):
        super().__init__(blocks, head, specs, **kw)
        self.side_heads = nn.ModuleList(side_heads)

    def predictor(self, i: int) -> nn.Sequential:
        """Block ``i``'s predictor (0-based)."""
        return self.head if i == len(self.blocks) - 1 else self.side_heads[i]


@ARCHS.register("cafo", description="CaFo's net: frozen random conv blocks (channels, CaFo: 32,128,512) with a "
                                    "bias-free linear predictor each (Zhao et al. 2023)",
                options=(CHANNELS,))
def build_cafo(cfg, spec: DatasetSpec) -> CaFoNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    channels = tuple(cfg.channels)
    if not channels or any(c < 1 for c in channels):
        raise DCLError(f"channels must be a non-empty list of positive widths, got {channels}")
    c_in, h, w = in_shape
    blocks, specs, preds = [], [], []
    for c in channels:
        h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise DCLError(f"{len(channels)} CaFo blocks halve the {in_shape[1]}x{in_shape[2]} input below 1 pixel")
        blocks.append(FrozenBlock(c_in, c))
        specs.append(BlockSpec(c, "map"))
        preds.append(predictor(c * h * w, num_classes))
        c_in = c
    return CaFoNet(blocks, preds[-1], specs, side_heads=preds[:-1], num_classes=num_classes, in_shape=in_shape,
                   name="cafo")
