"""The paper's fully connected network (Table VI; REFERENCE.md "Architectures").

    block 1: Flatten -> Linear(in, D) -> ReLU -> [act] -> Dropout
    block 2: LayerNorm(D) -> Linear(D, D) -> ReLU -> [act] -> Dropout
    head:    LayerNorm(D) -> Linear(D, Z) [-> ReLU with head_relu=true]

With ``lean_layers`` (the default) blocks and head are :class:`~dcl.models.fused.LeanSequential`:
on a detached input (local methods) ``LayerNorm -> Linear`` skips the Linear's input gradient
(one 128x3072x3072 matmul less per step at CIFAR-10 width), and dropout keeps a 1-byte mask.

Each block's flat output (B, D) is read by L_dict as K segments of C = D/K dims. ``[act]`` is
a :class:`~dcl.models.layers.Tap` before dropout (where N&E-style losses read the block).
MNIST: D=1024, K=8 (dict 10x128): 1,867,786 parameters under BP, 1,869,066 with D^Z.

The head follows the paper's Table VI (plain logits). The authors' code also applies a ReLU
to the logits: ``--set head_relu=true`` builds that form (no parameters change).
"""
from __future__ import annotations

import math

from torch import nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet
from .fused import LeanSequential
from .layers import ACTIVATION, HEAD_RELU, SEGMENTS, WIDTH, Tap, make_activation, make_dropout


@ARCHS.register("fc", description="3-layer FC network, width D, flat outputs cut into K segments (Table VI)",
                options=(WIDTH, SEGMENTS, HEAD_RELU, ACTIVATION))
def build_fc(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    d, k = cfg.width, cfg.segments
    if d % k:
        raise DCLError(f"segments K={k} must divide the FC width {d}")
    n_in = math.prod(in_shape)
    act, lean = cfg.activation, cfg.lean_layers
    seq = LeanSequential if lean else nn.Sequential
    blocks = [
        seq(nn.Flatten(), nn.Linear(n_in, d), make_activation(act), Tap("act"), make_dropout(cfg.dropout, "element", lean)),
        seq(nn.LayerNorm(d), nn.Linear(d, d), make_activation(act), Tap("act"), make_dropout(cfg.dropout, "element", lean)),
    ]
    head = seq(nn.LayerNorm(d), nn.Linear(d, num_classes))
    if cfg.head_relu:  # the authors' code: ReLU on the logits (not in the paper's Table VI)
        head.append(nn.ReLU())
    specs = [BlockSpec(d // k, "flat", k), BlockSpec(d // k, "flat", k)]
    return LocalNet(blocks, head, specs, num_classes=num_classes, in_shape=in_shape, name="fc")
