"""Predictions and test errors: the classifier head, each block's dictionary (Eq. 3), and the
weighted ensemble of block predictions (App. C.3, lambda_l = l^p).

:func:`collect_scores` runs a split once under ``torch.inference_mode`` and keeps every
prediction score, so any number of prediction modes can be scored without re-running the net.

Prediction modes (:func:`prediction_scores`), as strings so the CLI can pass them through:

* ``"head"``      the classifier f_L;
* ``"block:N"``   block N's dictionary prediction (Eq. 3), blocks numbered from 1;
* ``"ensemble"``  sum_l lambda_l * s_l over all blocks with a dictionary, lambda_l = l^p.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import Tensor

from .errors import DCLError, choices_error


@dataclass
class Scores:
    """Scores of one split: ``labels (N,)``, ``head (N, Z)``, ``blocks``: one ``(N, Z)`` per block
    with a dictionary (empty for methods without layer-wise prediction), all on the CPU.
    ``probes`` holds the outputs of the probes given to :func:`collect_scores`, by name."""

    labels: Tensor
    head: Tensor
    blocks: list[Tensor]
    head_loss: float = float("nan")
    probes: dict[str, Tensor] = field(default_factory=dict)


#: a probe: (block index i, 0-based; fn(h_i) -> (B, ...) tensor), run on block i's output
Probe = tuple[int, Callable[[Tensor], Tensor]]


@torch.inference_mode()
def collect_scores(net, method, loader, probes: dict[str, Probe] | None = None) -> Scores:
    """Run ``loader`` through ``net`` in eval mode; gather head logits and block dictionary logits.

    ``probes`` maps a name to ``(i, fn)``: ``fn`` is called on block ``i``'s output of every
    batch and the results are concatenated into ``Scores.probes[name]`` (e.g. super-label scores).
    """
    probes = probes or {}
    for name, (i, _) in probes.items():
        if not 0 <= i < len(net.blocks):
            raise ValueError(f"probe {name!r}: block index {i} out of range")
    was_training = net.training
    net.eval()
    heads, labels, blocks = [], [], [[] for _ in net.blocks]
    probed: dict[str, list[Tensor]] = {name: [] for name in probes}
    loss_sum, n = 0.0, 0
    try:
        for x, y in loader:
            h = x
            for i, block in enumerate(net.blocks):
                h = block(h)
                s = method.block_logits(i, h) if method is not None else None
                if s is not None:
                    blocks[i].append(s.float().cpu())
                for name, (j, fn) in probes.items():
                    if j == i:
                        probed[name].append(fn(h).float().cpu())
            logits = net.head(h).float()
            loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            n += y.shape[0]
            heads.append(logits.cpu())
            labels.append(y.cpu())
    finally:
        net.train(was_training)
    return Scores(
        labels=torch.cat(labels),
        head=torch.cat(heads),
        blocks=[torch.cat(b) for b in blocks if b],
        head_loss=loss_sum / max(n, 1),
        probes={name: torch.cat(v) for name, v in probed.items()},
    )


def error_percent(scores: Tensor, labels: Tensor) -> float:
    """Top-1 error in percent of ``scores (N, Z)`` against ``labels (N,)``."""
    return 100.0 * float((scores.argmax(dim=1) != labels).float().mean())


def ensemble_weights(n: int, p: float) -> Tensor:
    """lambda_l = l^p for l = 1..n (App. C.3), divided by the largest of them (float64).

    Dividing every weight by the same positive number leaves the ensemble's argmax unchanged
    and keeps large |p| finite: for p >= 0 the weights are (l/n)^p, which go to 0 for l < n,
    so p -> inf gives the last block alone.
    """
    if n < 1:
        raise DCLError("this model has no layer-wise (dictionary) predictions to ensemble")
    p = float(p)
    if p != p or p in (float("inf"), float("-inf")):
        raise DCLError(f"ensemble exponent p must be a finite number, got {p}")
    logw = p * torch.arange(1, n + 1, dtype=torch.float64).log()
    return (logw - logw.max()).exp()


def ensemble(blocks: list[Tensor], p: float) -> Tensor:
    """Weighted sum of layer-wise confidences (App. C.3): ``sum_l lambda_l * s_l``, ``(N, Z)``.

    ``blocks`` are the n blocks' scores ``(N, Z)``, numbered from 1; lambda_l = l^p up to a
    common factor that changes no prediction (see :func:`ensemble_weights`).
    """
    w = ensemble_weights(len(blocks), p)
    total = torch.zeros_like(blocks[0], dtype=torch.float64)
    for wl, s in zip(w, blocks):
        if wl > 0:
            total += wl * s.double()
    return total.to(blocks[0].dtype)


def prediction_choices(n_blocks: int) -> list[str]:
    """The valid prediction modes for a model with ``n_blocks`` dictionary-predicting blocks."""
    return ["head"] + [f"block:{i}" for i in range(1, n_blocks + 1)] + (["ensemble"] if n_blocks else [])


def check_prediction(predict: str, n_blocks: int) -> str:
    """Return ``predict`` if it is one of :func:`prediction_choices`, else raise DCLError."""
    choices = prediction_choices(n_blocks)
    if predict not in choices:
        if n_blocks:
            shown = ["head", f"block:1..{n_blocks}" if n_blocks > 1 else "block:1", "ensemble"]
        else:
            shown = ["head (this model has no layer-wise dictionary predictions)"]
        raise choices_error("prediction", predict, shown)
    return predict


def prediction_scores(scores: Scores, predict: str = "head", p: float = 1.0) -> Tensor:
    """The ``(N, Z)`` scores of one prediction mode (module doc); ``p`` is used by ``ensemble``."""
    check_prediction(predict, len(scores.blocks))
    if predict == "head":
        return scores.head
    if predict == "ensemble":
        return ensemble(scores.blocks, p)
    return scores.blocks[int(predict.split(":", 1)[1]) - 1]


def prediction_error(scores: Scores, predict: str = "head", p: float = 1.0) -> float:
    """Top-1 error (percent) of one prediction mode."""
    return error_percent(prediction_scores(scores, predict, p), scores.labels)


def sweep_p(scores: Scores, ps: Iterable[float] = range(11)) -> list[tuple[float, float]]:
    """``[(p, ensemble error %)]`` for each p (Fig. III uses p = 1..10)."""
    return [(p, prediction_error(scores, "ensemble", p)) for p in ps]


def errors(scores: Scores) -> dict[str, object]:
    """``test_error`` (head) and ``layer_test_errors`` (one per block with a dictionary), percent."""
    return {
        "test_error": error_percent(scores.head, scores.labels),
        "layer_test_errors": [error_percent(s, scores.labels) for s in scores.blocks],
        "test_loss": scores.head_loss,
    }
