"""The parts the label-embedding family shares (docs/label-embedding.md): fixed class vectors,
reductions of a block's tensor, and the scores that compare the two.

Every member scores block l against Z class vectors V_l (Z, N) and trains it with a loss on
the scores s (B, Z); they differ in where V_l comes from, how the block's tensor h is reduced
to f (B, N) and how f and V_l are compared. Here:

* class vectors: :func:`periodic_vectors` (LLS), :func:`simplex_vectors` (SPELA),
  :func:`random_projection` (SLL); learned ones are plain parameters of the methods;
* reductions: :func:`mean_reduce` (global average over positions), :func:`adaptive_reduce`
  (LLS: average-pooled to s x s positions, flattened), :func:`group_goodness` (CwComp,
  DeeperForward: one channel group per class);
* similarities: :func:`cosine_scores`; a dot product is ``f @ V.T``;
* extra terms: :func:`bhattacharyya` (SLL).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DCLError

#: LLS-DNN (models/layers/lls_layers.py, compute_LLS): frequencies linspace(50, 512, Z)
LLS_MIN_FREQ, LLS_MAX_FREQ = 50.0, 512.0


def periodic_vectors(num_classes: int, dim: int, waveform: str = "cosine",
                     min_freq: float = LLS_MIN_FREQ, max_freq: float = LLS_MAX_FREQ) -> Tensor:
    """LLS's fixed periodic basis ``(Z, N)``: ``B[z, n] = sin(w_z n)``, ``w_z`` evenly spaced in
    ``[min_freq, max_freq]`` (rad per index), ``n = 0..N-1``; ``square``: ``sign(B[z, n])``.
    (LLS calls the sinusoid "cosine"; the reference code builds it with ``sin``.)"""
    if waveform not in ("cosine", "square"):
        raise DCLError(f"waveform must be cosine or square, got {waveform!r}")
    # in float32, as the reference computes it (w_z n rounded to float32 before the sine)
    freqs = torch.linspace(min_freq, max_freq, num_classes, dtype=torch.float32).unsqueeze(1)
    basis = torch.sin(freqs * torch.arange(dim, dtype=torch.float32).unsqueeze(0))
    return torch.sign(basis) if waveform == "square" else basis


def simplex_vectors(num_classes: int, dim: int) -> Tensor:
    """``(Z, N)`` symmetric unit vectors spread over all N units: the N units cut into Z
    consecutive groups (``tensor_split``), ``v_z[n] = 1[n in group z] - 1/Z`` before unit
    normalisation. With Z | N every pair has cosine ``-1/(Z-1)`` (a regular simplex centred at
    0, the most symmetric set of Z unit vectors). Needs ``N >= Z``."""
    if dim < num_classes:
        raise DCLError(f"symmetric class vectors need a width of at least Z={num_classes}, got {dim}")
    member = torch.zeros(num_classes, dim)
    for z, idx in enumerate(torch.arange(dim).tensor_split(num_classes)):
        member[z, idx] = 1.0
    v = member - member.sum(dim=1, keepdim=True) / dim  # 1[n in z] - |z| / N  (= 1/Z when Z | N)
    return v / v.norm(dim=1, keepdim=True)


def random_projection(num_classes: int, dim: int, generator: torch.Generator | None = None) -> Tensor:
    """A fixed Gaussian projection ``(Z, N)`` with entries ``N(0, 1/N)``, so that ``f @ R.T``
    keeps the scale of ``f``'s norm (Johnson-Lindenstrauss)."""
    return torch.randn(num_classes, dim, generator=generator) / math.sqrt(dim)


def mean_reduce(h: Tensor) -> Tensor:
    """``(B, C, H, W)`` maps -> ``(B, C)`` (mean over positions); ``(B, P, C)`` tokens ->
    ``(B, C)``; ``(B, F)`` stays."""
    if h.dim() == 4:
        return h.mean(dim=(2, 3))
    if h.dim() == 3:
        return h.mean(dim=1)
    return h.flatten(1)


def adaptive_reduce(h: Tensor, size: int) -> Tensor:
    """LLS's reduction: maps ``(B, C, H, W)`` average-pooled to ``(B, C, s, s)`` and flattened
    to ``(B, C s^2)``; tokens averaged to ``(B, C)``; flat ``(B, F)`` kept."""
    if h.dim() == 4:
        return F.adaptive_avg_pool2d(h, size).flatten(1)
    return mean_reduce(h)


def group_goodness(h: Tensor, num_classes: int, squared: bool = True) -> Tensor:
    """``(B, C, ...) -> (B, Z)``: the channels (features of a flat tensor) cut into Z
    consecutive groups (``tensor_split``: equal when Z divides C), and each group's mean of
    ``h^2`` (``squared``; CwComp's goodness) or of ``h`` (DeeperForward's mean goodness)."""
    c = h.shape[1] if h.dim() != 3 else h.shape[2]
    if c < num_classes:
        raise DCLError(f"a block of {c} channels cannot be cut into one group per class (Z={num_classes})")
    if h.dim() == 3:
        h = h.transpose(1, 2)  # tokens: (B, P, C) -> (B, C, P)
    v = h.pow(2) if squared else h
    return torch.stack([g.flatten(1).mean(dim=1) for g in v.tensor_split(num_classes, dim=1)], dim=1)


def cosine_scores(f: Tensor, vectors: Tensor, temperature: float = 1.0) -> Tensor:
    """``cos(f_b, v_z) / tau``: ``f (B, N)``, ``vectors (Z, N)`` -> ``(B, Z)``."""
    return F.normalize(f, dim=1) @ F.normalize(vectors, dim=1).t() / temperature


def bhattacharyya(p: Tensor, q: Tensor, eps: float = 1e-12) -> Tensor:
    """Mean Bhattacharyya distance ``-log sum_z sqrt(p_z q_z)`` of two batches of class
    distributions ``p, q (B, Z)`` (rows sum to 1); ``()``. 0 when ``p == q``."""
    bc = (p * q).clamp_min(0).add(eps).sqrt().sum(dim=1)
    return -torch.log(bc.clamp_min(eps)).mean()
