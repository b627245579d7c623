"""Mono-Forward (Gong, Li & Abdulla, arXiv 2501.09238, 2025): every block has a LEARNED
projection matrix M_l (Z, C_l); its class scores are the activation times M_l's transpose and
it learns from cross-entropy over them (DCL-LD's per-block dictionary, without pooling).

Block l (paper §3: ``G_l = a_l M_l^T``):

    f = reduce(h)             (B, C_l)   flat blocks as they are; maps averaged over positions
    s = f M_l^T               (B, Z)
    L = CE(s, y)

M_l starts as ``nn.Linear(C_l, Z, bias=False)``'s weight (uniform +-1/sqrt(C_l); the paper's
initialisation was not found: our choice) and is trained by block l's optimizer.
Inference: the last block's scores (``last-block``, the default mode; the paper's "MF-pred").
"""
from __future__ import annotations

from torch import Tensor, nn

from ..losses.label_embedding import mean_reduce
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod, feature_width


class MonoForward(LabelEmbeddingMethod):
    """Mono-Forward: a learned projection M_l per block, logits f M_l^T, CE."""

    def build_aux(self) -> None:
        z = self.net.num_classes
        self.aux = nn.Module()
        self.aux.projections = nn.ModuleList(nn.Linear(feature_width(s), z, bias=False)
                                             for s in self.net.tap_shapes(None))

    def block_params(self, i: int) -> list[nn.Parameter]:
        return list(self.aux.projections[i].parameters())

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        return self.aux.projections[i](mean_reduce(h))


METHODS.register("mono-forward", MonoForward,
                 description="Mono-Forward (2025): a learned projection M_l (Z x C_l) per block, logits a M^T, CE")
