"""Test error of every block's layer-wise prediction and of the head (paper Fig. II), for one
run or several side by side.

Block l's prediction is Eq. 3 (the label whose embedding is most similar to h_l) for the DCL
family, or the method's own layer-wise prediction; the head is the classifier f_L, drawn as
layer L after the L-1 blocks, as in Fig. II.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..evaluate import collect_scores, error_percent
from .plotting import COLORS, MARKERS, pyplot, save_figure, write_csv


@dataclass
class LayerErrors:
    """One run's test errors in percent: ``blocks`` (one per block with a layer-wise prediction,
    numbered from 1) and ``head`` (None for a method without a classifier head)."""

    name: str
    method: str
    blocks: list[float]
    head: float | None
    num_blocks: int
    title: str = ""


def layer_errors(run, name: str = "", split: str = "test") -> LayerErrors:
    """Test errors (percent) of ``run``'s head and of every block's layer-wise prediction."""
    scores = collect_scores(run.net, run.method, run.eval_loader(split))
    head = error_percent(scores.head, scores.labels) if scores.head is not None else None
    return LayerErrors(name or run.cfg.method, run.cfg.method, [error_percent(s, scores.labels) for s in scores.blocks],
                       head, len(run.net.blocks), title=f"{run.cfg.arch}, {run.cfg.data}")


def layers_csv(results: list[LayerErrors], path) -> Path:
    rows = []
    for r in results:
        rows += [[r.name, r.method, i, "block", e] for i, e in enumerate(r.blocks, start=1)]
        if r.head is not None:
            rows.append([r.name, r.method, r.num_blocks + 1, "head", r.head])
    return write_csv(path, ["run", "method", "layer", "kind", "test_error_percent"], rows)


def plot_layers(results: list[LayerErrors], path, title: str | None = None) -> Path:
    """Test error against layer (blocks 1..L-1, then the head as layer L), one line per run."""
    plt = pyplot()
    n_layers = max(r.num_blocks + 1 for r in results)
    fig, ax = plt.subplots(figsize=(max(6.5, 0.6 * n_layers + 4), 4.8))
    for k, r in enumerate(results):
        color, marker = COLORS[k % len(COLORS)], MARKERS[k % len(MARKERS)]
        xs = list(range(1, len(r.blocks) + 1))
        ys = list(r.blocks)
        if r.head is not None:
            xs.append(r.num_blocks + 1)
            ys.append(r.head)
        ax.plot(xs, ys, marker=marker, color=color, label=r.name, linewidth=2, markersize=7)
        for x_, y_ in (zip(xs, ys) if len(results) <= 2 else ()):  # numbers only where they stay readable
            ax.annotate(f"{y_:.2f}", (x_, y_), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=8, color=color)
    ticks = list(range(1, n_layers + 1))
    ax.set_xticks(ticks, [str(t) for t in ticks[:-1]] + [f"{ticks[-1]}\n(head)"])
    ax.set_xlabel("layer (blocks 1..L-1: dictionary prediction, Eq. 3; L: classifier head)")
    ax.set_ylabel("test error (%)")
    titles = sorted({r.title for r in results})
    ax.set_title(title or f"Test error of every layer's prediction ({titles[0] if len(titles) == 1 else 'several runs'})")
    ax.legend(title="run")
    ax.margins(y=0.15)
    return save_figure(fig, path)
