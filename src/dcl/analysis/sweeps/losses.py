"""Local losses compared block by block (paper Fig. 1: L_feat vs L_contrast, with L_dict).

One run per method name (any registered method: ``feat``, ``ll-cont``, ``dcl``, ``dcl-s``,
``bp``, ...), each with its own recipe preset where one exists. Every block is scored the same
way for every method, by a linear probe on its pooled feature (:mod:`dcl.analysis.probe`),
and the head by its test error; the plot shows one line per method.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ...errors import DCLError
from ...evaluate import collect_scores, error_percent
from ...methods import METHODS
from ...predictor import load
from ..plotting import COLORS, MARKERS, method_label, pyplot, save_figure, write_csv
from ..probe import probe_errors
from .base import Point, Sweep

#: the paper's Fig. 1 comparison (feat and ll-cont are issue 10's methods) plus L_dict
DEFAULT_METHODS = ("feat", "ll-cont", "dcl")


@dataclass
class MethodLayers:
    """One method's run: linear-probe test error of every block and the head's test error (%)."""

    method: str
    blocks: list[float]
    head: float | None
    folder: Path
    title: str = ""


def losses_sweep(sweep: Sweep, methods: Sequence[str] = DEFAULT_METHODS, *, probe_samples: int | None = 10000,
                 probe_epochs: int = 30, device: str | None = None, progress: bool = False) -> list[MethodLayers]:
    """Train (or reuse) one run per method, then probe every block of each."""
    if not methods:
        raise DCLError("give at least one method")
    for m in methods:
        METHODS.get(m)  # a bad name fails before anything trains
    results = sweep.run([Point(m, {"method": m}) for m in methods])
    out = []
    for r in results:
        run = load(r.folder, device=device, dataset=sweep.dataset, data_dir=sweep.data_dir)
        scores = collect_scores(run.net, run.method, run.eval_loader("test"))
        head = error_percent(scores.head, scores.labels) if scores.head is not None else None
        out.append(MethodLayers(r.point.label, probe_errors(run, train_samples=probe_samples, epochs=probe_epochs,
                                                            progress=progress),
                                head, r.folder, title=f"{r.cfg.arch}, {r.cfg.data}, {r.cfg.epochs} epochs"))
    return out


def losses_csv(results: Sequence[MethodLayers], path) -> Path:
    rows = []
    for r in results:
        rows += [[r.method, i, "block (linear probe)", e, str(r.folder)] for i, e in enumerate(r.blocks, start=1)]
        if r.head is not None:
            rows.append([r.method, len(r.blocks) + 1, "head", r.head, str(r.folder)])
    return write_csv(path, ["method", "layer", "measure", "test_error_percent", "run"], rows)


def plot_losses(results: Sequence[MethodLayers], path) -> Path:
    plt = pyplot()
    n = max(len(r.blocks) for r in results) + 1
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * n + 4.5), 5))
    for k, r in enumerate(results):
        xs = list(range(1, len(r.blocks) + 1))
        ys = list(r.blocks)
        if r.head is not None:
            xs.append(len(r.blocks) + 1)
            ys.append(r.head)
        ax.plot(xs, ys, marker=MARKERS[k % len(MARKERS)], color=COLORS[k % len(COLORS)], linewidth=2,
                markersize=7, label=method_label(r.method))
    ax.set_xticks(range(1, n + 1), [str(i) for i in range(1, n)] + [f"{n}\n(head)"])
    ax.set_xlabel("layer (blocks: linear probe on the pooled local feature; L: classifier head)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Local losses compared layer by layer ({results[0].title})")
    ax.legend(title="local loss (method)")
    return save_figure(fig, path)
