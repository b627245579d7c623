"""DeeperForward (Sun et al., ICLR 2025): CwComp's channel groups with layer normalization and
MEAN goodness, so that the goodness neither grows with the scale of the features nor dies
with deactivated neurons.

Block l (paper §3, as we read it; no public code was found, see docs/label-embedding.md):

    n   = LN(h)                                 LayerNorm over (C, H, W) (or F), no affine
    g_z = mean over channel group z of n        (B, Z)   (mean goodness, not squared)
    L   = CE(g / tau, y)                        tau = ``df_temperature`` (1.0, our choice)

LN makes the group means sum to 0 over groups of equal size, so a block can raise a class only
by lowering the others. The parameter-free residual shortcuts of the paper's networks belong to
the network; the paper's TinyCNN is not built here (docs/label-embedding.md). Inference:
argmax of the last block's goodness (``goodness``, the default mode).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..config.options import Option
from ..config.rules import real
from ..losses.label_embedding import group_goodness
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod


class DeeperForward(LabelEmbeddingMethod):
    """DeeperForward: mean goodness of channel groups of the layer-normalised block; CE."""

    options = (Option("df_temperature", float, 1.0, real(0, None, lo_open=True),
                      "DeeperForward: temperature of the CE over mean goodness"),)
    own_prediction = "goodness"

    def build_aux(self) -> None:
        self.require_groups()

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        n = F.layer_norm(h, h.shape[1:])
        return group_goodness(n, self.net.num_classes, squared=False) / self.cfg.df_temperature


METHODS.register("deeperforward", DeeperForward,
                 description="DeeperForward (ICLR 2025): channel groups of LayerNorm(h), mean goodness, CE; "
                             "goodness inference")
