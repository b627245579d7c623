"""Dot product against cosine similarity over the temperature tau (paper Fig. V, App. H).

One run with the dot product (tau = 1) and one with cosine similarity per tau; the plot shows
the cosine runs' test error against tau, the dot-product run as a horizontal line.
"""
from __future__ import annotations

from typing import Sequence

from ...errors import DCLError
from .base import Point, PointRun, Sweep
from .report import describe_base, plot_error_lines

DEFAULT_TEMPERATURES = (0.05, 0.1, 0.5, 1.0)
DOT = "dot product"


def similarity_points(temperatures: Sequence[float]) -> list[Point]:
    pts = [Point(DOT, {"similarity": "dot", "temperature": None})]
    pts += [Point(f"cosine, tau={t:g}", {"similarity": "cosine", "temperature": float(t)}, value=float(t))
            for t in temperatures]
    return pts


def similarity_sweep(sweep: Sweep, temperatures: Sequence[float] = DEFAULT_TEMPERATURES) -> list[PointRun]:
    """The dot-product run first, then one cosine run per temperature."""
    if not temperatures or any(not t > 0 for t in temperatures):
        raise DCLError(f"temperatures must be > 0, got {list(temperatures)}")
    return sweep.run(similarity_points(temperatures))


def plot_similarity_sweep(results: Sequence[PointRun], path):
    dot = [r for r in results if r.point.label == DOT]
    cos = [r for r in results if r.point.label != DOT]
    return plot_error_lines(cos, path, xlabel="temperature tau of the cosine similarity (log scale)", log_x=True,
                            reference=dot, reference_label="dot product", series="cosine: ",
                            title=f"Cosine similarity vs dot product ({describe_base(results)})")
