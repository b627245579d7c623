"""Predictions and test errors: the classifier head, each block's dictionary (Eq. 3), and the
weighted ensemble of block predictions (App. C.3, lambda_l = l^p).

:func:`collect_scores` runs a split once under ``torch.inference_mode`` and keeps every
prediction score, so any number of prediction modes can be scored without re-running the net.

Prediction modes (:func:`prediction_scores`), as strings so the CLI can pass them through:

* ``"head"``      the classifier f_L;
* ``"block:N"``   block N's dictionary prediction (Eq. 3), blocks numbered from 1;
* ``"ensemble"``  sum_l lambda_l * s_l over all blocks with a dictionary, lambda_l = l^p;
* a method's own modes (``Method.extra_predictions``), e.g. Forward-Forward's ``"goodness"``.

Each method names the mode whose error is the run's ``test_error``
(``Method.default_prediction``; ``"head"`` unless the method's paper predicts otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import Tensor

from .errors import DCLError, choices_error


@dataclass
class BatchPredictions:
    """What a method predicts for one batch (``Method.predict_batch``): ``head (B, Z)`` (None
    for a method without a classifier head), ``blocks``: one ``(B, Z)`` per block with a
    layer-wise prediction, ``extra``: the method's own modes by name, each ``(B, Z)``."""

    head: Tensor | None
    blocks: list[Tensor] = field(default_factory=list)
    extra: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class Scores:
    """Scores of one split: ``labels (N,)``, ``head (N, Z)``, ``blocks``: one ``(N, Z)`` per block
    with a dictionary (empty for methods without layer-wise prediction), ``extra``: a method's
    own prediction modes by name, all on the CPU. ``default`` is the mode reported as
    ``test_error``. ``probes`` holds the outputs of the probes given to :func:`collect_scores`."""

    labels: Tensor
    head: Tensor | None
    blocks: list[Tensor]
    head_loss: float = float("nan")
    probes: dict[str, Tensor] = field(default_factory=dict)
    extra: dict[str, Tensor] = field(default_factory=dict)
    default: str = "head"


#: a probe: (block index i, 0-based; fn(h_i) -> (B, ...) tensor), run on block i's output
Probe = tuple[int, Callable[[Tensor], Tensor]]


def plain_predict_batch(net, x: Tensor, on_block: Callable[[int, Tensor], None] | None = None) -> BatchPredictions:
    """The network's own forward pass, head only (no method: e.g. a bare LocalNet)."""
    h = x
    for i, block in enumerate(net.blocks):
        h = block(h)
        if on_block is not None:
            on_block(i, h)
    return BatchPredictions(head=net.head(h))


@torch.inference_mode()
def collect_scores(net, method, loader, probes: dict[str, Probe] | None = None) -> Scores:
    """Run ``loader`` through ``method.predict_batch`` (``net`` in eval mode); gather the head's
    logits, every block's layer-wise scores and the method's own prediction modes.

    ``probes`` maps a name to ``(i, fn)``: ``fn`` is called on block ``i``'s output of every
    batch and the results are concatenated into ``Scores.probes[name]`` (e.g. super-label scores).
    """
    probes = probes or {}
    for name, (i, _) in probes.items():
        if not 0 <= i < len(net.blocks):
            raise ValueError(f"probe {name!r}: block index {i} out of range")
    was_training = net.training
    net.eval()
    heads, labels, blocks = [], [], []
    extra: dict[str, list[Tensor]] = {}
    probed: dict[str, list[Tensor]] = {name: [] for name in probes}
    loss_sum, n = 0.0, 0

    def on_block(i: int, h: Tensor) -> None:
        for name, (j, fn) in probes.items():
            if j == i:
                probed[name].append(fn(h).float().cpu())

    try:
        for x, y in loader:
            cb = on_block if probes else None
            out = method.predict_batch(x, cb) if method is not None else plain_predict_batch(net, x, cb)
            if out.head is not None:
                logits = out.head.float()
                loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
                heads.append(logits.cpu())
            n += y.shape[0]
            if not blocks:
                blocks = [[] for _ in out.blocks]
            for acc, s in zip(blocks, out.blocks, strict=True):
                acc.append(s.float().cpu())
            for name, s in out.extra.items():
                extra.setdefault(name, []).append(s.float().cpu())
            labels.append(y.cpu())
    finally:
        net.train(was_training)
    return Scores(
        labels=torch.cat(labels),
        head=torch.cat(heads) if heads else None,
        blocks=[torch.cat(b) for b in blocks if b],
        head_loss=loss_sum / max(n, 1) if heads else float("nan"),
        probes={name: torch.cat(v) for name, v in probed.items()},
        extra={name: torch.cat(v) for name, v in extra.items()},
        default=getattr(method, "default_prediction", "head") if method is not None else "head",
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


def prediction_choices(n_blocks: int, extra: Iterable[str] = (), head: bool = True) -> list[str]:
    """The valid prediction modes for a model with ``n_blocks`` layer-wise-predicting blocks,
    the method's own modes ``extra`` and (unless ``head=False``) a classifier head."""
    return ((["head"] if head else []) + [f"block:{i}" for i in range(1, n_blocks + 1)]
            + (["ensemble"] if n_blocks else []) + list(extra))


def check_prediction(predict: str, n_blocks: int, extra: Iterable[str] = (), head: bool = True) -> str:
    """Return ``predict`` if it is one of :func:`prediction_choices`, else raise DCLError."""
    extra = list(extra)
    choices = prediction_choices(n_blocks, extra, head)
    if predict not in choices:
        shown = ["head"] if head else []
        if n_blocks:
            shown += [f"block:1..{n_blocks}" if n_blocks > 1 else "block:1", "ensemble"]
        shown += extra
        if not n_blocks and shown == ["head"]:
            shown = ["head (this model has no layer-wise dictionary predictions)"]
        raise choices_error("prediction", predict, shown)
    return predict


def prediction_scores(scores: Scores, predict: str = "head", p: float = 1.0) -> Tensor:
    """The ``(N, Z)`` scores of one prediction mode (module doc); ``p`` is used by ``ensemble``."""
    check_prediction(predict, len(scores.blocks), scores.extra, scores.head is not None)
    if predict == "head":
        return scores.head
    if predict == "ensemble":
        return ensemble(scores.blocks, p)
    if predict in scores.extra:
        return scores.extra[predict]
    return scores.blocks[int(predict.split(":", 1)[1]) - 1]


def prediction_error(scores: Scores, predict: str = "head", p: float = 1.0) -> float:
    """Top-1 error (percent) of one prediction mode."""
    return error_percent(prediction_scores(scores, predict, p), scores.labels)


def sweep_p(scores: Scores, ps: Iterable[float] = range(11)) -> list[tuple[float, float]]:
    """``[(p, ensemble error %)]`` for each p (Fig. III uses p = 1..10)."""
    return [(p, prediction_error(scores, "ensemble", p)) for p in ps]


def errors(scores: Scores) -> dict[str, object]:
    """Errors in percent: ``test_error`` (the method's default prediction, ``prediction``),
    ``layer_test_errors`` (one per block with a layer-wise prediction), ``test_loss`` (the
    head's cross-entropy) and, for methods with their own modes, ``head_test_error`` and
    ``prediction_errors`` (every extra mode by name)."""
    out: dict[str, object] = {
        "test_error": prediction_error(scores, scores.default),
        "layer_test_errors": [error_percent(s, scores.labels) for s in scores.blocks],
        "test_loss": scores.head_loss,
    }
    if scores.default != "head" or scores.extra:
        out["prediction"] = scores.default
        out["head_test_error"] = error_percent(scores.head, scores.labels) if scores.head is not None else None
        out["prediction_errors"] = {name: error_percent(s, scores.labels) for name, s in scores.extra.items()}
    return out
