"""Label-conditioned inputs for the Forward-Forward family (REFERENCE-FL.md §1, decision 5).

* :func:`overlay` writes a label code over the first Z input values (the top row of the first
  channel), in pixel units: code 1 = a white pixel, 0 = a black one (loeweX writes 0/1 into
  [0, 1] pixels); the neutral label is 1/Z everywhere.
* :func:`wrong_labels` draws a negative label uniformly among the Z-1 wrong ones (never the
  true label); :func:`hard_wrong_labels` draws it in proportion to the model's own
  probabilities (Hinton's hard negatives).
* :func:`rms_normalize` is Hinton's length normalisation between layers.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.datasets import DatasetSpec
from ..errors import DCLError


def pixel_bounds(spec: DatasetSpec) -> tuple[float, float]:
    """The normalised input values of a black (0) and a white (1) pixel of the first channel
    of the data ``spec`` describes, as its loader normalises them (``(v - mean) / std``)."""
    mean, std = spec.mean[0], spec.std[0]
    return (0.0 - mean) / std, (1.0 - mean) / std


def overlay(x: Tensor, code: Tensor, bounds: tuple[float, float]) -> Tensor:
    """A copy of ``x (B, ...)`` whose first Z values (flattened) are ``lo + (hi - lo) * code``.

    ``code (B, Z)``: one-hot for a label, 1/Z everywhere for the neutral label.
    """
    b, z = code.shape
    flat = x.reshape(b, -1)
    if flat.shape[1] < z:
        raise DCLError(f"the label overlay needs at least {z} input values per sample, got {flat.shape[1]}")
    lo, hi = bounds
    out = flat.clone()
    out[:, :z] = lo + (hi - lo) * code.to(out.dtype)
    return out.view(x.shape)


def one_hot(labels: Tensor, num_classes: int, dtype=torch.float32) -> Tensor:
    """``labels (B,)`` -> ``(B, Z)`` one-hot."""
    return torch.nn.functional.one_hot(labels, num_classes).to(dtype)


def neutral_code(batch: int, num_classes: int, device, dtype=torch.float32) -> Tensor:
    """The neutral label ``(B, Z)``: 1/Z for every class."""
    return torch.full((batch, num_classes), 1.0 / num_classes, device=device, dtype=dtype)


def wrong_labels(y: Tensor, num_classes: int) -> Tensor:
    """A uniformly random wrong label for each of ``y (B,)``: ``(y + U{1..Z-1}) mod Z``."""
    shift = torch.randint(1, num_classes, y.shape, device=y.device)
    return (y + shift) % num_classes


def hard_wrong_labels(y: Tensor, probs: Tensor) -> Tensor:
    """A wrong label drawn in proportion to ``probs (B, Z)`` with the true label masked out;
    uniform among the wrong labels where the model puts no mass on them."""
    p = probs.detach().float().clone()
    p.scatter_(1, y.view(-1, 1), 0.0)
    empty = p.sum(dim=1, keepdim=True) <= 0
    p = torch.where(empty, torch.ones_like(p).scatter_(1, y.view(-1, 1), 0.0), p)
    return torch.multinomial(p, 1).view(-1)


def rms_normalize(h: Tensor, eps: float = 1e-8) -> Tensor:
    """n(h) = h / (RMS(h) + eps) per sample over every non-batch dim (``(B, ...)`` -> same):
    removes a layer's goodness so the next layer sees only its orientation (Hinton)."""
    rms = h.flatten(1).square().mean(dim=1).sqrt()
    return h / (rms.view(-1, *([1] * (h.dim() - 1))) + eps)
