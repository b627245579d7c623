"""LL-bpf: the backprop-free form of LL-predsim (N&E's "bio" predsim; App. J.2.5; REFERENCE-LL §4).

Per block, reading the activation before pool and dropout (``feature_tap = "act"``):

* a fixed random label projection P_l = Linear(Z, ``proj_dim``=128, no bias) (a buffer, never
  trained) turns the labels into codes ``P y (B, 128)``;
* prediction: the activation pooled to A = ``aux_dim`` values (4096 in the presets; tokens
  averaged, flat kept) -> :class:`~dcl.losses.feedback.LinearFA` (A', 128) (zero-initialised W
  and bias, trained; the error reaches the block through a fixed random matrix B, never W^T)
  -> BCE-with-logits against the binary code (P y > 0);
* similarity: no trained layer: conv maps pooled as above then the per-channel std over the
  grid, tokens the std over tokens, flat vectors as they are; L_sim against S(P y).

L = (1 - beta) L_pred + beta L_sim with beta = ``ll_beta`` (default 0.01, N&E's CIFAR-10 bio
recipe); the output layer's cross-entropy is weighted by (1 - beta). The only gradient into a
block comes through its own layers (one-step local BP) from these two losses. Layer-wise
prediction: the class whose binary code is most likely under the block's BCE logits.

Δθ (Table 4): the LinearFA weights only (P, B and nothing else), 6 x (4096*128 + 128) +
(1024*128 + 128) = 3,277,696 on VGG8B at every input size (3.28M).
"""
from __future__ import annotations

from torch import Tensor, nn

from ..losses.feedback import LabelProjection, LinearFA, binary_code_loss, binary_code_scores, binary_code_targets
from ..losses.similarity import similarity_matching_loss, similarity_matrix
from .base import METHODS
from .ll_aux import (AUX_DIM, CLASS_LIMITED, LL_BETA, PROJ_DIM, ZERO_HEAD, aux_input, aux_input_width,
                     class_limited_loader, pool_map, std_reduce, zero_output_layer)
from .local import LocalMethod

DEFAULT_BPF_BETA = 0.01


class LLBpf(LocalMethod):
    """LL-bpf: fixed label projections, feedback-alignment prediction heads, similarity of std features."""

    feature_tap = "act"
    layerwise = True
    options = (AUX_DIM, PROJ_DIM, LL_BETA, ZERO_HEAD) + CLASS_LIMITED

    def train_loader_options(self) -> dict:
        return class_limited_loader(self.cfg)

    @property
    def beta(self) -> float:
        return DEFAULT_BPF_BETA if self.cfg.ll_beta is None else float(self.cfg.ll_beta)

    def build_aux(self) -> None:
        net, cfg = self.net, self.cfg
        shapes = net.tap_shapes(self.feature_tap)
        self.aux = nn.Module()
        self.aux.projections = nn.ModuleList(LabelProjection(net.num_classes, cfg.proj_dim) for _ in shapes)
        self.aux.pred = nn.ModuleList(LinearFA(aux_input_width(s, cfg.aux_dim), cfg.proj_dim) for s in shapes)
        if cfg.zero_head:
            zero_output_layer(net)

    def block_params(self, i: int) -> list[nn.Parameter]:
        return list(self.aux.pred[i].parameters())

    def similarity_features(self, h: Tensor) -> Tensor:
        """The tensor L_sim reads: pooled conv map -> per-channel std; tokens -> std; flat as is."""
        if h.dim() == 4:
            return std_reduce(pool_map(h, self.cfg.aux_dim))
        return std_reduce(h)

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        beta = self.beta
        code = self.aux.projections[i](y)  # (B, 128), a fixed buffer: no gradient
        pred = binary_code_loss(self.aux.pred[i](aux_input(h, self.cfg.aux_dim)), code)
        sim = similarity_matching_loss(self.similarity_features(h), similarity_matrix(code))
        return (1.0 - beta) * pred + beta * sim

    def block_logits(self, i: int, h: Tensor) -> Tensor:
        codes = binary_code_targets(self.aux.projections[i].weight.t())  # (Z, 128) 0/1 code per class
        return binary_code_scores(self.aux.pred[i](aux_input(h, self.cfg.aux_dim)), codes)

    def head_loss_weight(self) -> float:
        return 1.0 - self.beta


METHODS.register("ll-bpf", LLBpf, description="LL-bpf (N&E bio predsim): fixed random label projection, "
                                              "feedback-alignment BCE head, similarity of std features; beta 0.01")
