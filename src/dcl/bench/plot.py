"""The frontier as a picture: accounted peak memory (x) against samples/s (y), one curve per method.

Needs matplotlib (``pip install 'dcl-local[plot]'``; in the ``dev`` extra); drawn with the Agg backend,
so no display is needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DCLError


def plot_frontier(result: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Draw :func:`dcl.bench.run_frontier`'s ``result`` into the PNG ``path``; returns the path.
    Each point is marked with its micro-batch count M."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DCLError("drawing the frontier needs matplotlib: pip install 'dcl-local[plot]' "
                       "(the table above is complete without it)") from None
    rows = result["rows"]
    key = result["summary"]["memory_key"]
    r0 = rows[0]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    markers = "osD^vP*X"
    for i, method in enumerate(methods):
        pts = sorted((r for r in rows if r["method"] == method), key=lambda r: r[key])
        xs, ys = [r[key] for r in pts], [r["samples_per_second"] for r in pts]
        dashed = method in result["summary"]["baselines"]
        ax.plot(xs, ys, marker=markers[i % len(markers)], linestyle="--" if dashed else "-", label=method)
        for r, x, y in zip(pts, xs, ys):
            ax.annotate(f"M={r['micro_batches']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("accounted peak memory (MiB): saved tensors + weights + grads + optimizer state")
    ax.set_ylabel("training samples / s")
    load = r0.get("loadavg_before")
    threads = r0.get("threads")
    sub = f"{r0['device']}, {threads} thread{'' if threads == 1 else 's'}" + (f", load {load:.1f}" if load is not None else "")
    ax.set_title(title or f"{r0['arch']}, {r0['data']} shape, effective batch {r0['batch_size']} ({sub})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path
