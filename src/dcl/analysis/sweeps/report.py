"""Numbers and drawings shared by the sweeps: a point's errors, the CSV, error-vs-value lines."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..plotting import COLORS, MARKERS, pyplot, save_figure, write_csv
from .base import PointRun


def point_errors(pr: PointRun) -> tuple[float, list[float]]:
    """``(test error of the run's prediction, [every block's layer-wise error])`` in percent,
    from the run's ``summary.json`` (its last epoch)."""
    s = pr.summary
    return float(s["test_error"]), [float(e) for e in s.get("layer_test_errors") or []]


def sweep_csv(results: Sequence[PointRun], path, value_name: str = "value") -> Path:
    """One row per point: label, swept value, test error, block errors, epochs, run folder."""
    n_blocks = max((len(point_errors(r)[1]) for r in results), default=0)
    rows = []
    for r in results:
        head, blocks = point_errors(r)
        rows.append([r.point.label, "" if r.point.value is None else r.point.value, head,
                     *(blocks + [""] * (n_blocks - len(blocks))), r.summary.get("epochs"), str(r.folder)])
    return write_csv(path, ["point", value_name, "test_error_percent",
                            *[f"block{i}_error_percent" for i in range(1, n_blocks + 1)], "epochs", "run"], rows)


def plot_error_lines(results: Sequence[PointRun], path, *, xlabel: str, title: str, log_x: bool = False,
                     log_base: float = 10, reference: Sequence[PointRun] = (), reference_label: str = "",
                     int_ticks: bool = False, series: str = "") -> Path:
    """Test error (head and each block) against the swept value of ``results``; the points in
    ``reference`` (not on the x axis, e.g. the dot-product run of Fig. V) as horizontal lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    xs = [r.point.value for r in results]
    heads = [point_errors(r)[0] for r in results]
    n_blocks = min((len(point_errors(r)[1]) for r in results), default=0)
    ax.plot(xs, heads, marker="o", color=COLORS[0], linewidth=2.2, markersize=7, label=f"{series}head")
    for b in range(n_blocks):
        ax.plot(xs, [point_errors(r)[1][b] for r in results], marker=MARKERS[(b + 1) % len(MARKERS)],
                color=COLORS[(b + 1) % len(COLORS)], linewidth=1.5, linestyle="--", markersize=6,
                label=f"{series}block {b + 1} (dictionary prediction)")
    for k, ref in enumerate(reference):
        head, _ = point_errors(ref)
        ax.axhline(head, color="black", linestyle=":" if k else "-.", linewidth=1.8,
                   label=f"{reference_label or ref.point.label}: {head:.2f} % (head)")
    if log_x:
        ax.set_xscale("log", base=log_base)
    if int_ticks or log_x:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test error (%)")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def describe_base(results: Sequence[PointRun]) -> str:
    """``"fc, fashion-mnist, 3 epochs"`` for titles."""
    c = results[0].cfg
    return f"{c.arch}, {c.data}, {c.epochs} epoch{'s' if c.epochs != 1 else ''}"
