"""LLS (Apolinario, Roy & Roy, WACV 2025; code mapolinario94/LLS-DNN): every block is scored
against FIXED periodic class vectors, with no trainable parameter in its loss (``lls``), or
with a small learned mixing of the scores (``lls-m``).

Block l (reference: models/layers/lls_layers.py, ``compute_LLS``):

    f   = normalize(reduce(h))            (B, N)   maps average-pooled to s x s (``lls_pool``)
    B_l = periodic_vectors(Z, N)          (Z, N)   B[z, n] = sin(w_z n), w_z in linspace(50, 512, Z)
    s   = f B_l^T                         (B, Z)
    lls:   L = CE(s / tau, y)                              tau = ``lls_temperature`` (0.5)
    lls-m: L = CE((m * s) / tau, y),  m (Z,) learned       (``lls_mixing=vector``, LLS-M)
           L = CE((s M) / tau, y),    M (Z, Z) learned     (``lls_mixing=matrix``, LLS-MxM)

m and M start at ``0.01 N(0, 1)`` as in the reference code; block l's optimizer trains them.
Inference: the trained output layer (the head), as LLS reports it; the last block's scores are
the ``last-block`` mode. (``waveform=square``: ``sign(B)``.)
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config.options import Option
from ..config.rules import choice, integer, real
from ..losses.label_embedding import adaptive_reduce, periodic_vectors
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod

LLS_OPTIONS = (
    Option("lls_waveform", str, "cosine", choice("cosine", "square"), "LLS basis: cosine (sinusoid) | square"),
    Option("lls_temperature", float, 0.5, real(0, None, lo_open=True), "LLS softmax temperature (reference: 0.5)"),
    Option("lls_pool", int, 2, integer(1, 64), "LLS: conv maps average-pooled to s x s before the basis"),
)


class LLS(LabelEmbeddingMethod):
    """LLS: fixed periodic class vectors per block, cosine of the pooled activation, CE."""

    options = LLS_OPTIONS

    def reduce(self, h: Tensor) -> Tensor:
        return nn.functional.normalize(adaptive_reduce(h, self.cfg.lls_pool), dim=1)

    def build_aux(self) -> None:
        """One fixed basis ``(Z, N_l)`` per block (a buffer: saved, never trained)."""
        shapes = self.net.tap_shapes(None)
        self.aux = nn.Module()
        z = self.net.num_classes
        for i, shape in enumerate(shapes):
            n = self.reduce(torch.zeros(2, *shape)).shape[1]
            self.aux.register_buffer(f"basis{i}", periodic_vectors(z, n, self.cfg.lls_waveform))
        self.build_mixing()

    def build_mixing(self) -> None:
        """LLS has none."""

    def mix(self, i: int, s: Tensor) -> Tensor:
        return s

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        basis = getattr(self.aux, f"basis{i}")
        return self.mix(i, self.reduce(h) @ basis.t()) / self.cfg.lls_temperature


class LLSM(LLS):
    """LLS-M / LLS-MxM: the fixed scores mixed by a learned vector m (Z,) or matrix M (Z, Z)."""

    options = LLS_OPTIONS + (
        Option("lls_mixing", str, "vector", choice("vector", "matrix"),
               "LLS-M: learned vector m (Z) | LLS-MxM: learned matrix M (Z x Z)"),
    )

    def build_mixing(self) -> None:
        z, blocks = self.net.num_classes, len(self.net.blocks)
        shape = (z,) if self.cfg.lls_mixing == "vector" else (z, z)
        self.aux.mixing = nn.ParameterList(nn.Parameter(0.01 * torch.randn(shape)) for _ in range(blocks))

    def block_params(self, i: int) -> list[nn.Parameter]:
        return [self.aux.mixing[i]]

    def mix(self, i: int, s: Tensor) -> Tensor:
        m = self.aux.mixing[i]
        return s * m if m.dim() == 1 else s @ m


LLS.default_prediction = LLSM.default_prediction = "head"  # LLS predicts with its trained output layer

METHODS.register("lls", LLS, description="LLS (WACV 2025): fixed periodic class vectors per block, "
                                         "cosine of the pooled activation, CE / 0.5; no trainable loss parameter")
METHODS.register("lls-m", LLSM, description="LLS-M (WACV 2025): LLS scores times a learned vector m per block "
                                            "(lls_mixing=matrix: LLS-MxM, a learned Z x Z matrix)")
