"""The weighted ensemble of layer-wise predictions over its exponent p (paper Fig. III).

y_bar = sum_l lambda_l * s_l with lambda_l = l^p (App. C.3): the test error for every p, the
head's error as the baseline. Works on trained runs (``ensemble_errors``) or trains one point
first (``train_ensemble_run``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ...evaluate import check_prediction, collect_scores, error_percent, sweep_p
from ..plotting import COLORS, MARKERS, pyplot, save_figure, write_csv
from .base import Point, PointRun, Sweep

DEFAULT_PS = tuple(range(11))


@dataclass
class EnsembleErrors:
    """One run: ``[(p, ensemble test error %)]`` and the head's test error (%)."""

    name: str
    errors: list[tuple[float, float]]
    head: float | None
    title: str = ""


def ensemble_errors(run, ps: Sequence[float] = DEFAULT_PS, name: str = "") -> EnsembleErrors:
    """Ensemble test error of a trained ``run`` for every p in ``ps``."""
    check_prediction("ensemble", run.method.num_layerwise)
    scores = collect_scores(run.net, run.method, run.eval_loader("test"))
    head = error_percent(scores.head, scores.labels) if scores.head is not None else None
    return EnsembleErrors(name or run.cfg.method, sweep_p(scores, ps), head,
                          title=f"{run.cfg.arch}, {run.cfg.data}")


def train_ensemble_run(sweep: Sweep, method: str = "dcl") -> PointRun:
    """Train (or reuse) the one run the ensemble sweep evaluates."""
    return sweep.run([Point(method, {"method": method})])[0]


def ensemble_csv(results: Sequence[EnsembleErrors], path) -> Path:
    rows = [[r.name, p, e, r.head if r.head is not None else ""] for r in results for p, e in r.errors]
    return write_csv(path, ["run", "p", "ensemble_test_error_percent", "head_test_error_percent"], rows)


def plot_ensemble(results: Sequence[EnsembleErrors], path) -> Path:
    """Ensemble test error against p, one line per run, each run's head as a dashed baseline."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for k, r in enumerate(results):
        color = COLORS[k % len(COLORS)]
        ps, es = zip(*r.errors)
        ax.plot(ps, es, marker=MARKERS[k % len(MARKERS)], color=color, linewidth=2, markersize=7,
                label=f"{r.name}: ensemble of the blocks")
        if r.head is not None:
            ax.axhline(r.head, color=color, linestyle="--", linewidth=1.5, label=f"{r.name}: head (baseline) {r.head:.2f} %")
    ax.set_xticks(list(results[0].errors and [p for p, _ in results[0].errors]))
    ax.set_xlabel("ensemble exponent p (layer weights $\\lambda_l = l^p$)")
    ax.set_ylabel("test error (%)")
    titles = sorted({r.title for r in results})
    ax.set_title(f"Weighted ensemble of layer-wise predictions ({titles[0] if len(titles) == 1 else 'several runs'})")
    ax.legend()
    return save_figure(fig, path)
