"""SLL, Stochastic Layer-wise Learning (Yin & Corradi, arXiv 2505.05181, 2025): every block has
a FIXED random projection R_l to class posteriors; it learns from their cross-entropy plus a
Bhattacharyya term that keeps its posterior close to the previous block's (detached) one, the
surrogate of the KL term of the layer-wise ELBO.

Block l (paper §3, as we read it):

    f   = reduce(h)                    (B, C_l)   flat as is; maps averaged over positions
    R_l = random_projection(Z, C_l)    (Z, C_l)   fixed, entries N(0, 1/C_l)
    p_l = softmax(f R_l^T)             (B, Z)
    L_l = CE(f R_l^T, y) + beta D_B(p_l, sg[p_{l-1}])     beta = ``sll_beta`` (1.0, our choice)
    D_B(p, q) = -log sum_z sqrt(p_z q_z)                  (the first block has no D_B term)

p_{l-1} is the posterior that block l-1 computed on the same batch just before (kept detached
between the two block steps), so nothing flows between blocks. The paper's optional
multiplicative dropout is not built. Inference: the last block's posterior (``last-block``).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..config.options import Option
from ..config.rules import real
from ..losses.label_embedding import bhattacharyya, mean_reduce, random_projection
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod, feature_width


class SLL(LabelEmbeddingMethod):
    """SLL: fixed random projections to posteriors, CE + beta * Bhattacharyya to the previous block."""

    options = (Option("sll_beta", float, 1.0, real(0, None), "SLL: weight of the Bhattacharyya term"),)
    #: the D_B term reads the previous block's posterior of the same (whole) batch
    supports_micro_batches = False

    def build_aux(self) -> None:
        z = self.net.num_classes
        self.aux = nn.Module()
        for i, shape in enumerate(self.net.tap_shapes(None)):
            self.aux.register_buffer(f"projection{i}", random_projection(z, feature_width(shape)))
        self.previous: Tensor | None = None

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        return mean_reduce(h) @ getattr(self.aux, f"projection{i}").t()

    def scores_loss(self, i: int, scores: Tensor, y: Tensor) -> Tensor:
        loss = F.cross_entropy(scores, y)
        p = scores.softmax(dim=1)
        prev = self.previous if i > 0 else None
        if prev is not None and prev.shape == p.shape and self.cfg.sll_beta:
            loss = loss + self.cfg.sll_beta * bhattacharyya(p, prev)
        self.previous = p.detach()
        return loss

    def blocks_independent(self) -> bool:
        return False  # block l reads block l-1's posterior of the same batch


METHODS.register("sll", SLL, description="SLL (2025): fixed random projection to class posteriors per block, "
                                         "CE + Bhattacharyya to the previous block's detached posterior")
