"""The paper's fully connected network (Table VI; REFERENCE.md "Architectures").

    block 1: Flatten -> Linear(in, D) -> ReLU -> Dropout
    block 2: LayerNorm(D) -> Linear(D, D) -> ReLU -> Dropout
    head:    LayerNorm(D) -> Linear(D, Z)

Each block's flat output (B, D) is read by L_dict as K segments of C = D/K dims.
MNIST: D=1024, K=8 (dict 10x128): 1,867,786 parameters under BP, 1,869,066 with D^Z.
"""
from __future__ import annotations

import math

from torch import nn

from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet


@ARCHS.register("fc", description="3-layer FC network, width D, flat outputs cut into K segments (Table VI)")
def build_fc(cfg, in_shape: tuple[int, int, int], num_classes: int) -> LocalNet:
    d, k = cfg.width, cfg.segments
    if d % k:
        raise DCLError(f"segments K={k} must divide the FC width {d}")
    n_in = math.prod(in_shape)
    blocks = [
        nn.Sequential(nn.Flatten(), nn.Linear(n_in, d), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout)),
        nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout)),
    ]
    head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, num_classes))
    specs = [BlockSpec(d // k, "flat", k), BlockSpec(d // k, "flat", k)]
    return LocalNet(blocks, head, specs, num_classes=num_classes, in_shape=in_shape, name="fc")
