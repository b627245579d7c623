"""SPELA, Solo Pass Embedded Learning (arXiv 2402.09769, TMLR 2025): every block has FIXED,
symmetric, unit-norm class vectors ("embedded vectors") and learns to point its output at its
class's vector; a sample is classified by the nearest vector in cosine.

Block l (paper §3, as we read it):

    f   = reduce(h)                      (B, C_l)   flat as is; maps averaged over positions
    V_l = simplex_vectors(Z, C_l)        (Z, C_l)   unit rows over Z unit groups, cosine -1/(Z-1)
    s   = cos(f, V_l)                    (B, Z)
    L   = mean_b (1 - s[b, y_b])         (cosine loss to the true class's vector)

The exact symmetric construction and loss of the paper were not found; the regular simplex
spread over unit groups and the cosine loss are our choice (docs/label-embedding.md). Needs C_l >= Z.
Inference: argmax of the last block's cosines (``last-block``, the default mode).
"""
from __future__ import annotations


from torch import Tensor, nn

from ..losses.label_embedding import cosine_scores, mean_reduce, simplex_vectors
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod, feature_width


class SPELA(LabelEmbeddingMethod):
    """SPELA: fixed symmetric unit class vectors per block, loss 1 - cos to the true vector."""

    def build_aux(self) -> None:
        z = self.net.num_classes
        self.aux = nn.Module()
        for i, shape in enumerate(self.net.tap_shapes(None)):
            self.aux.register_buffer(f"vectors{i}", simplex_vectors(z, feature_width(shape)))

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        return cosine_scores(mean_reduce(h), getattr(self.aux, f"vectors{i}"))

    def scores_loss(self, i: int, scores: Tensor, y: Tensor) -> Tensor:
        return (1.0 - scores.gather(1, y.unsqueeze(1))).mean()


METHODS.register("spela", SPELA,
                 description="SPELA (TMLR 2025): fixed symmetric unit class vectors per block, loss 1 - cosine "
                             "to the true class's vector")
