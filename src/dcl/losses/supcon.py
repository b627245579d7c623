"""The supervised contrastive loss (Khosla et al., 2020): paper Eq. 1, L_contrast and L_feat.

For L2-normalised features ``a (B, D)`` and labels ``y (B,)``, with temperature tau:

    s_ik     = a_i . a_k / tau                              (k != i)
    log p_ij = s_ij - log sum_{k != i} exp(s_ik)            (log-softmax over the other samples)
    P(i)     = {j != i : y_j = y_i}                         (the positives of anchor i)

Two ways to average ``-log p_ij`` over the positive pairs (``average``):

* ``"anchor"`` (default; REFERENCE-LL §6, decision 9, as InfoPro and the DCL authors code it):
  each anchor's mean over its positives, then the mean over ALL B anchors, an anchor without
  a positive contributing 0:  L = -(1/B) sum_i (1/|P(i)|) sum_{j in P(i)} log p_ij
* ``"pairs"`` (Eq. 1 as printed): one mean over all positive pairs:
  L = -(1 / sum_i |P(i)|) sum_i sum_{j in P(i)} log p_ij

The two agree when every anchor has the same number of positives (balanced classes).
L_feat (f_phi = identity) applies it to a block's own features (:func:`pooled_features`);
L_contrast to a projection head's output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DCLError

SUPCON_AVERAGES = ("anchor", "pairs")
DEFAULT_SUPCON_TEMPERATURE = 0.07


def supcon_loss(features: Tensor, labels: Tensor, temperature: float = DEFAULT_SUPCON_TEMPERATURE,
                average: str = "anchor", normalize: bool = True) -> Tensor:
    """Supervised contrastive loss (Eq. 1) of ``features (B, D)`` with integer ``labels (B,)``.

    ``normalize``: L2-normalise each feature row first (the paper's form; pass False if the
    rows are already unit vectors). Returns a scalar; 0 when no sample has a positive.
    """
    if average not in SUPCON_AVERAGES:
        raise DCLError(f"unknown supcon average {average!r}; valid choices: {', '.join(SUPCON_AVERAGES)}")
    if not temperature > 0:
        raise DCLError(f"contrastive temperature must be > 0, got {temperature}")
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise DCLError(f"supcon_loss needs features (B, D) and labels (B,), got {tuple(features.shape)} "
                       f"and {tuple(labels.shape)}")
    a = F.normalize(features, dim=1) if normalize else features
    logits = (a @ a.t()) / temperature                                    # (B, B)
    self_mask = torch.eye(a.shape[0], dtype=torch.bool, device=a.device)
    logits = logits.masked_fill(self_mask, float("-inf"))                 # k != i
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)      # (B, B)
    positives = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~self_mask  # (B, B)
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)      # (B,)
    n_pos = positives.sum(dim=1)
    if average == "pairs":
        return -pos_log_prob.sum() / n_pos.sum().clamp(min=1)
    return -(pos_log_prob / n_pos.clamp(min=1)).mean()


def pooled_features(h: Tensor) -> Tensor:
    """One vector per sample from a block's tensor: conv maps ``(B, C, H, W)`` averaged over
    the H*W positions, token tensors ``(B, P, C)`` averaged over the P tokens, flat ``(B, F)``
    as they are (App. J.2.4: h := (1/K) sum_k h^k). Returns ``(B, C)`` or ``(B, F)``."""
    if h.dim() == 4:
        return h.mean(dim=(2, 3))
    if h.dim() == 3:
        return h.mean(dim=1)
    if h.dim() == 2:
        return h
    raise DCLError(f"a contrastive loss reads (B, C, H, W), (B, P, C) or (B, F) tensors, got {tuple(h.shape)}")


class SupConLoss(nn.Module):
    """:func:`supcon_loss` as a module: ``forward(features (B, D), labels (B,)) -> scalar``."""

    def __init__(self, temperature: float = DEFAULT_SUPCON_TEMPERATURE, average: str = "anchor"):
        super().__init__()
        self.temperature = float(temperature)
        self.average = average

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return supcon_loss(features, labels, self.temperature, self.average)

    def extra_repr(self) -> str:
        return f"tau={self.temperature}, average={self.average}"
