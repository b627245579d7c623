"""Adaptive against static dictionaries (paper Fig. 4).

Three runs: D^Z (``dcl``, adaptive), D^N (``dcl-s``: static N(0, 1) rows) and D^⊥ (``dcl-s
--dict-init orthogonal``: static orthogonal rows); both static dictionaries are rescaled to
the mean row norm of the trained D^Z (``dict_norm_from`` = the D^Z run), as in the paper.
The plot shows the test error of every block and of the head for each dictionary.
"""
from __future__ import annotations

from typing import Sequence

from ..plotting import COLORS, pyplot, save_figure
from .base import Point, PointRun, Sweep
from .report import describe_base, point_errors

ADAPTIVE, NORMAL, ORTHOGONAL = "D^Z", "D^N", "D^⊥"
LABELS = {ADAPTIVE: "$D^Z$ (adaptive)", NORMAL: "$D^N$ (static normal)", ORTHOGONAL: "$D^{\\perp}$ (static orthogonal)"}


def dictionary_points() -> list[Point]:
    def norm_from(folders):
        return str(folders[ADAPTIVE])

    return [
        Point(ADAPTIVE, {"method": "dcl", "dict_init": "normal"}),
        Point(NORMAL, {"method": "dcl-s", "dict_init": "normal", "dict_norm_from": norm_from}, needs=(ADAPTIVE,)),
        Point(ORTHOGONAL, {"method": "dcl-s", "dict_init": "orthogonal", "dict_norm_from": norm_from},
              needs=(ADAPTIVE,)),
    ]


def dictionary_sweep(sweep: Sweep) -> list[PointRun]:
    """D^Z first (its norm scales the others), then D^N and D^⊥."""
    return sweep.run(dictionary_points())


def plot_dictionary_sweep(results: Sequence[PointRun], path):
    """Grouped bars: one group per layer (blocks, then the head), one bar per dictionary."""
    plt = pyplot()
    n_blocks = min(len(point_errors(r)[1]) for r in results)
    groups = [f"block {b + 1}" for b in range(n_blocks)] + ["head"]
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 * len(groups) + 3), 5))
    width = 0.8 / len(results)
    lo = min(min(point_errors(r)[1][:n_blocks] + [point_errors(r)[0]]) for r in results)
    for k, r in enumerate(results):
        head, blocks = point_errors(r)
        ys = blocks[:n_blocks] + [head]
        xs = [g + (k - (len(results) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, ys, width=width * 0.95, color=COLORS[k % len(COLORS)], label=LABELS.get(r.point.label, r.point.label))
        for bar, y in zip(bars, ys):
            ax.annotate(f"{y:.2f}", (bar.get_x() + bar.get_width() / 2, y), textcoords="offset points", xytext=(0, 2),
                        ha="center", fontsize=8)
    ax.set_xticks(range(len(groups)), groups)
    bottom = max(0.0, lo * 0.8)
    ax.set_ylim(bottom=bottom)
    ax.set_xlabel("layer (blocks: dictionary prediction, Eq. 3; head: classifier)")
    ax.set_ylabel("test error (%)" + (f"; axis starts at {bottom:.0f}" if bottom > 0 else ""))
    ax.set_title(f"Adaptive vs static label dictionaries ({describe_base(results)})\n"
                 "static rows scaled to the mean row norm of the trained $D^Z$")
    ax.legend(title="dictionary")
    return save_figure(fig, path)
