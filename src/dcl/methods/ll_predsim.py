"""Nøkland & Eidnes (2019) local losses: LL-pred, LL-sim, LL-predsim (REFERENCE-LL §0-3; Table 3).

Every block's loss reads its activation before pool and dropout (``feature_tap = "act"``) and
is backpropagated only into that block and its own auxiliary layers, which the block's
optimizer trains (N&E: one Adam per layer, weight decay 0; the ``ll-*`` presets).

* ``ll-pred`` (prediction loss): the tensor reduced to an A-dim vector (:mod:`.ll_aux`:
  conv maps average-pooled to A = ``aux_dim`` values, tokens averaged, flat kept) ->
  Linear(A', Z) with a zero-initialised weight -> cross-entropy. The head is also the block's
  layer-wise prediction (``dcl eval --predict block:N``).
* ``ll-sim`` (similarity matching): conv maps -> Conv3x3(C, C, no bias) -> per-channel std over
  the positions -> (B, C); tokens -> Linear(C, C, no bias) per token -> std over tokens; flat
  (B, F) -> Linear(F, F, no bias). L_sim = mean (S(h') - S(onehot y))^2
  (:mod:`dcl.losses.similarity`).
* ``ll-predsim``: (1 - beta) L_pred + beta L_sim with beta = ``ll_beta`` (default 0.99); the
  output layer's cross-entropy is weighted by (1 - beta) too.

Δθ on VGG8B (Table 4, REFERENCE-LL §9): ll-pred 7 heads of Linear(A, Z) (the FC layer's head
reads its 1024 units, so 133,190 at 32 px where the paper prints 143K); ll-sim 9*sum C^2 +
1024^2 = 9,453,568 (paper 9.46M).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..losses.similarity import label_similarity, similarity_matching_loss
from .base import METHODS
from .ll_aux import (AUX_DIM, CLASS_LIMITED, LL_BETA, ZERO_HEAD, aux_input, aux_input_width, class_limited_loader,
                     std_reduce, zero_linear, zero_output_layer)
from .local import LocalMethod

DEFAULT_PREDSIM_BETA = 0.99


class TokenLinear(nn.Module):
    """``(B, P, C) -> (B, P, C)``: one Linear(C, C, no bias) applied to every token."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


def similarity_layer(shape: tuple[int, ...]) -> nn.Module:
    """N&E's similarity-matching layer for a tensor of ``shape`` (no batch dim): Conv3x3(C, C)
    for maps, a per-token Linear(C, C) for tokens, Linear(F, F) for flat vectors; no biases."""
    if len(shape) == 3:
        return nn.Conv2d(shape[0], shape[0], 3, 1, 1, bias=False)
    if len(shape) == 2:
        return TokenLinear(shape[1])
    return nn.Linear(shape[0], shape[0], bias=False)


class NoklandEidnesLoss(LocalMethod):
    """Shared machinery of ``ll-pred``, ``ll-sim`` and ``ll-predsim`` (the flags pick the losses)."""

    feature_tap = "act"
    uses_pred = True
    uses_sim = False

    @property
    def layerwise(self) -> bool:  # a prediction head per block gives layer-wise predictions
        return self.uses_pred

    @property
    def beta(self) -> float:
        """Weight of L_sim: 0 (pred only), 1 (sim only), ``ll_beta`` or 0.99 (predsim)."""
        if not self.uses_sim:
            return 0.0
        if not self.uses_pred:
            return 1.0
        return DEFAULT_PREDSIM_BETA if self.cfg.ll_beta is None else float(self.cfg.ll_beta)

    def build_aux(self) -> None:
        net = self.net
        shapes = net.tap_shapes(self.feature_tap)
        self.aux = nn.Module()
        if self.uses_pred:
            dim = self.cfg.aux_dim
            self.aux.pred = nn.ModuleList(zero_linear(nn.Linear(aux_input_width(s, dim), net.num_classes))
                                          for s in shapes)
        if self.uses_sim:
            self.aux.sim = nn.ModuleList(similarity_layer(s) for s in shapes)
        if self.cfg.zero_head:
            zero_output_layer(net)

    def block_params(self, i: int) -> list[nn.Parameter]:
        params = list(self.aux.pred[i].parameters()) if self.uses_pred else []
        return params + (list(self.aux.sim[i].parameters()) if self.uses_sim else [])

    def block_logits(self, i: int, h: Tensor) -> Tensor | None:
        return self.aux.pred[i](aux_input(h, self.cfg.aux_dim)) if self.uses_pred else None

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        beta = self.beta
        loss = torch.zeros((), device=h.device)
        if self.uses_pred:
            loss = (1.0 - beta) * F.cross_entropy(self.block_logits(i, h), y)
        if self.uses_sim:
            target = label_similarity(y, self.net.num_classes)
            loss = loss + beta * similarity_matching_loss(std_reduce(self.aux.sim[i](h)), target)
        return loss

    def head_loss_weight(self) -> float:
        return 1.0 - self.beta if (self.uses_pred and self.uses_sim) else 1.0


class LLPred(NoklandEidnesLoss):
    """LL-pred: a zero-initialised linear classifier on every block's pooled activation."""

    options = (AUX_DIM, ZERO_HEAD)


class LLSim(NoklandEidnesLoss):
    """LL-sim: similarity matching of every block's (conv + std) activation against the labels'."""

    uses_pred, uses_sim = False, True
    options = (ZERO_HEAD,) + CLASS_LIMITED

    def train_loader_options(self) -> dict:
        return class_limited_loader(self.cfg)


class LLPredSim(NoklandEidnesLoss):
    """LL-predsim: (1 - beta) L_pred + beta L_sim per block; output CE weighted by (1 - beta)."""

    uses_pred, uses_sim = True, True
    options = (AUX_DIM, LL_BETA, ZERO_HEAD) + CLASS_LIMITED

    def train_loader_options(self) -> dict:
        return class_limited_loader(self.cfg)


METHODS.register("ll-pred", LLPred, description="LL-pred (Nøkland & Eidnes): per-block linear classifier on the "
                                                "pre-pool activation pooled to A values, cross-entropy")
METHODS.register("ll-sim", LLSim, description="LL-sim (Nøkland & Eidnes): similarity matching of conv3x3 + std "
                                              "features to the labels' similarity matrix")
METHODS.register("ll-predsim", LLPredSim, description="LL-predsim (Nøkland & Eidnes): (1-beta) L_pred + beta L_sim, "
                                                      "beta 0.99; output CE x (1-beta)")
