"""Sweep of the number of feature segments K of flat (FC) blocks (paper Fig. IV, App. E).

A flat block output of F = C*K dims is read by L_dict as K vectors of C dims; K = 1 is the
whole vector. One run per K; the plot shows test error against K.
"""
from __future__ import annotations

from typing import Sequence

from ...errors import DCLError
from .base import Point, PointRun, Sweep
from .report import describe_base, plot_error_lines

DEFAULT_KS = (1, 2, 4, 8, 16)


def segment_points(ks: Sequence[int]) -> list[Point]:
    return [Point(f"K={int(k)}", {"segments": int(k)}, value=int(k)) for k in ks]


def check_flat(sweep: Sweep, k: int) -> None:
    """DCLError unless the sweep's network has flat blocks that K segments can cut."""
    from ...data import DATASETS
    from ...models import build_model

    cfg = sweep.config(Point("check", {"segments": k}), {})
    spec = DATASETS.get(cfg.data)
    net = build_model(cfg, spec)
    if not any(s.layout == "flat" for s in net.specs):
        raise DCLError(f"segments K applies to flat (FC) blocks; {cfg.arch!r} has {net.specs[0].layout!r} blocks "
                       f"(use --arch fc)")


def segments_sweep(sweep: Sweep, ks: Sequence[int] = DEFAULT_KS) -> list[PointRun]:
    """Train (or reuse) one run per K in ``ks``; results in the order of ``ks``."""
    if not ks:
        raise DCLError("give at least one K")
    for k in ks:
        check_flat(sweep, int(k))
    return sweep.run(segment_points(ks))


def plot_segments(results: Sequence[PointRun], path):
    return plot_error_lines(results, path, xlabel="number of feature segments K (log scale)", log_x=True,
                            log_base=2, title=f"Test error vs feature segments K ({describe_base(results)})")
