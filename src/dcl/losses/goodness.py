"""Goodness losses of the Forward-Forward family (REFERENCE-FL.md §1-3).

A layer's *goodness* is the sum (or mean) of its squared activities, one number per sample.
Forward-Forward (Hinton 2022) wants it above a threshold theta for positive data (the image
with its true label) and below theta for negative data (a wrong label); SymBa (Lee & Song
2023) compares each positive with its own negative instead, without a threshold; PFF (Ororbia
& Mali 2023) wants the opposite sign: low energy (sum of squares) for positives.

All functions take per-sample goodness values ``(B,)`` and return a scalar mean over the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GOODNESS_KINDS = ("sum", "mean")


def goodness(h: Tensor, kind: str = "sum") -> Tensor:
    """G = sum_j h_j^2 (``sum``) or mean_j h_j^2 (``mean``) over every non-batch dim of
    ``h (B, ...)``; returns ``(B,)``."""
    sq = h.flatten(1).square()
    if kind == "sum":
        return sq.sum(dim=1)
    if kind == "mean":
        return sq.mean(dim=1)
    raise ValueError(f"unknown goodness {kind!r}; valid: {GOODNESS_KINDS}")


def ff_loss(g_pos: Tensor, g_neg: Tensor, threshold: float) -> Tensor:
    """Forward-Forward's layer loss: binary cross-entropy on logits ``G - theta`` over the batch
    ``[pos; neg]`` with targets 1 / 0, i.e. the mean over all 2B terms of
    ``softplus(theta - G_pos)`` and ``softplus(G_neg - theta)`` (loeweX; Hinton's p = σ(G - θ)).

    ``g_pos (B,)``, ``g_neg (B',)``: goodness of positive and negative samples.
    """
    terms = torch.cat([F.softplus(threshold - g_pos), F.softplus(g_neg - threshold)])
    return terms.mean()


def symba_loss(g_pos: Tensor, g_neg: Tensor, alpha: float = 4.0) -> Tensor:
    """SymBa's symmetric pairwise loss: ``mean_n softplus(-alpha * (G_pos,n - G_neg,n))``.

    Positive n is paired with the negative built from the same image (``g_pos``, ``g_neg``
    both ``(B,)``). dL/dG_pos = -dL/dG_neg = -alpha * σ(-alpha * Δ) / B: positives are
    pulled up exactly as hard as negatives are pushed down, with no threshold.
    """
    if g_pos.shape != g_neg.shape:
        raise ValueError(f"SymBa pairs each positive with one negative: got {tuple(g_pos.shape)} and "
                         f"{tuple(g_neg.shape)}")
    return F.softplus(-alpha * (g_pos - g_neg)).mean()


def pff_energy_loss(z: Tensor, positive: Tensor, threshold: float = 10.0) -> Tensor:
    """PFF's layer loss: BCE of ``σ(theta - sum_j z_j^2)`` against ``positive`` (1 for positive
    samples, 0 for negatives), averaged over the batch: positives must have LOW energy,
    the opposite sign of Forward-Forward.

    ``z (B, n)``: the layer's state; ``positive (B,)`` of 0/1 (any float or bool dtype).
    """
    logits = threshold - z.flatten(1).square().sum(dim=1)
    return F.binary_cross_entropy_with_logits(logits, positive.to(logits.dtype))
