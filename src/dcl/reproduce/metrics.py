"""How a table cell is read from its finished run: a registry of metrics by name.

A cell's ``metric`` is ``NAME`` or ``NAME:ARG``:

* ``test_error``          the method's reported prediction (the head for DCL and BP)
* ``head``                the final classifier
* ``block:N``             block N's layer-wise (dictionary) prediction, Eq. 3
* ``superlabels:MODE``    a CIFAR-100 model's CIFAR-20 error, naive | mean | super (App. D)
* ``ensemble:P``          the weighted sum of layer-wise predictions, λ_l = l^P (App. C.3)

Per-epoch metrics (the first three) come from the run's ``metrics.jsonl``: the final epoch's
value and the best over epochs (the paper reports the best). The others are computed once
from the final checkpoint and cached in the run folder (``posthoc.json``); they have no best.
Another package adds a metric with ``METRICS.register(name, Metric(...))``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..engine.checkpoint import write_json
from ..registry import Registry


@dataclass(frozen=True)
class MetricValue:
    """A cell's value in one run: at the final epoch and the best over epochs (percent)."""

    final: float | None
    best: float | None = None
    best_epoch: int | None = None


@dataclass(frozen=True)
class Metric:
    """``per_epoch(record, arg)`` reads one line of metrics.jsonl; ``posthoc(run_dir, arg,
    data_dir, device)`` evaluates the final checkpoint. One of the two is given."""

    per_epoch: Callable[[dict[str, Any], str | None], float | None] | None = None
    posthoc: Callable[[Path, str | None, Any, str | None], float] | None = None
    description: str = ""


METRICS: Registry[Metric] = Registry("metric")


def metric_name(metric: str) -> str:
    return metric.split(":", 1)[0]


def _arg(metric: str) -> str | None:
    return metric.split(":", 1)[1] if ":" in metric else None


def _test_error(record: dict[str, Any], arg: str | None) -> float | None:
    return record.get("test_error")


def _head(record: dict[str, Any], arg: str | None) -> float | None:
    if "prediction" in record:  # a method reporting another prediction keeps the head's apart
        return record.get("head_test_error")
    return record.get("test_error")


def _block(record: dict[str, Any], arg: str | None) -> float | None:
    errs = record.get("layer_test_errors") or []
    n = int(arg or 0)
    return errs[n - 1] if 1 <= n <= len(errs) else None


def _superlabels(run_dir: Path, arg: str | None, data_dir, device) -> float:
    from ..analysis.superlabels import superlabel_errors
    from ..predictor import load
    run = load(run_dir, device=device, data_dir=data_dir)
    return float(superlabel_errors(run, [arg or "naive"])[arg or "naive"])


def _ensemble(run_dir: Path, arg: str | None, data_dir, device) -> float:
    from ..engine.run import eval_error
    from ..predictor import load
    run = load(run_dir, device=device, data_dir=data_dir)
    return float(eval_error(run, "ensemble", p=float(arg or 1)))


METRICS.register("test_error", Metric(per_epoch=_test_error, description="the method's reported test error"))
METRICS.register("head", Metric(per_epoch=_head, description="the final classifier's test error"))
METRICS.register("block", Metric(per_epoch=_block, description="block N's layer-wise test error (Eq. 3)"))
METRICS.register("superlabels", Metric(posthoc=_superlabels, description="CIFAR-20 error of a CIFAR-100 model (App. D)"))
METRICS.register("ensemble", Metric(posthoc=_ensemble, description="test error of sum_l l^p block scores (App. C.3)"))


def read_history(train_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records a :func:`dcl.train` folder holds (``metrics.jsonl``)."""
    path = Path(train_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_metric(metric: str, run_dir: Path, *, data_dir=None, device: str | None = None) -> MetricValue:
    """The value of ``metric`` in the finished run at ``run_dir`` (its :func:`dcl.train`
    folder is ``run_dir/train``)."""
    m = METRICS.get(metric_name(metric))
    arg = _arg(metric)
    if m.per_epoch is not None:
        values = [(r.get("epoch"), m.per_epoch(r, arg)) for r in read_history(Path(run_dir) / "train")]
        values = [(e, v) for e, v in values if v is not None]
        if not values:
            return MetricValue(None)
        best_epoch, best = min(values, key=lambda ev: ev[1])
        return MetricValue(values[-1][1], best, best_epoch)
    cache_path = Path(run_dir) / "posthoc.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    epochs = len(read_history(Path(run_dir) / "train"))
    hit = cache.get(metric)
    if hit is None or hit.get("epochs") != epochs:
        hit = {"value": m.posthoc(Path(run_dir) / "train", arg, data_dir, device), "epochs": epochs}
        cache[metric] = hit
        write_json(cache_path, cache)
    return MetricValue(hit["value"])
