"""HFF (2026): every block has LEARNED unit-norm class prototypes and learns from the
cross-entropy of its cosine similarities to them at a temperature.

Block l:

    f   = reduce(h)                      (B, C_l)   flat as is; maps averaged over positions
    P_l                                  (Z, C_l)   learned, N(0, 1) at start, used unit-norm
    s   = cos(f, P_l) / tau              (B, Z)     tau = ``hff_temperature`` (0.1, our choice)
    L   = CE(s, y)

This is DCL-LD with cosine similarity (App. H) and no pooling. The paper's defaults were not
found; tau and the initialisation are our choice (docs/label-embedding.md).
Inference: argmax of the last block's cosines (``last-block``, the default mode).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config.options import Option
from ..config.rules import real
from ..losses.label_embedding import cosine_scores, mean_reduce
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod, feature_width


class HFF(LabelEmbeddingMethod):
    """HFF: learned unit-norm prototypes per block, cosine / tau, CE."""

    options = (Option("hff_temperature", float, 0.1, real(0, None, lo_open=True),
                      "HFF: temperature of the cosine scores"),)

    def build_aux(self) -> None:
        z = self.net.num_classes
        self.aux = nn.Module()
        self.aux.prototypes = nn.ParameterList(nn.Parameter(torch.randn(z, feature_width(s)))
                                               for s in self.net.tap_shapes(None))

    def block_params(self, i: int) -> list[nn.Parameter]:
        return [self.aux.prototypes[i]]

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        return cosine_scores(mean_reduce(h), self.aux.prototypes[i], self.cfg.hff_temperature)


METHODS.register("hff", HFF, description="HFF (2026): learned unit-norm prototypes per block, cosine / tau, CE")
