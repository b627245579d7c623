"""Similarity matching (Nøkland & Eidnes 2019, "sim"; REFERENCE-LL §2).

A batch's similarity matrix is the per-sample Pearson correlation matrix:

    S(X) for X (B, D):  x_i <- x_i - mean_d(x_i);  x_i <- x_i / (1e-8 + ||x_i||);  S = clamp(X X^T, -1, 1)

The local loss pulls the similarity matrix of a block's (transformed) features towards that of
the labels' one-hot codes: L_sim = mean over the B^2 entries of (S(h') - S(Y))^2. For one-hot
labels S(Y) is 1 for a pair with the same label and -1/(Z-1) otherwise.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..errors import DCLError

SIMILARITY_EPS = 1e-8


def similarity_matrix(x: Tensor) -> Tensor:
    """``(B, D)`` (or ``(B, ...)``, flattened) -> ``(B, B)`` per-sample correlation matrix, in [-1, 1]."""
    x = x.flatten(1)
    x = x - x.mean(dim=1, keepdim=True)
    x = x / (SIMILARITY_EPS + x.norm(dim=1, keepdim=True))
    return (x @ x.t()).clamp(-1.0, 1.0)


def label_similarity(labels: Tensor, num_classes: int) -> Tensor:
    """``S(onehot(labels))`` ``(B, B)``: 1 for equal labels, -1/(Z-1) otherwise (no gradient)."""
    if labels.dim() != 1:
        raise DCLError(f"labels must be (B,), got shape {tuple(labels.shape)}")
    return similarity_matrix(F.one_hot(labels, num_classes).float())


def similarity_matching_loss(features: Tensor, target: Tensor) -> Tensor:
    """L_sim: the mean squared difference between ``S(features)`` and a target ``(B, B)``
    similarity matrix (detached: the target carries no gradient)."""
    s = similarity_matrix(features)
    if target.shape != s.shape:
        raise DCLError(f"target similarity must be ({s.shape[0]}, {s.shape[0]}), got {tuple(target.shape)}")
    return F.mse_loss(s, target.detach())
