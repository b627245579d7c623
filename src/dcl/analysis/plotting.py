"""Shared plumbing of the analyses: the optional dependencies, a legible figure style, atomic
PNG and CSV writing.

matplotlib (Agg backend: no display needed) and scikit-learn are the optional extra
``analysis`` (``pip install 'dcl-local[analysis]'``); without them the analyses that need them
raise one :class:`~dcl.errors.DCLError` naming what to install. Numbers are computed without
either; only drawing (and t-SNE) needs them.
"""
from __future__ import annotations

import csv
import importlib
import io
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..engine.checkpoint import atomic_write_bytes, atomic_write_text
from ..errors import DCLError

INSTALL_HINT = "pip install 'dcl-local[analysis]' (matplotlib and scikit-learn)"

#: rcParams of every figure: large enough to read when a README shows it ~700 px wide
STYLE = {
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
    "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 13, "axes.grid": True,
    "grid.alpha": 0.3, "savefig.bbox": "tight", "figure.dpi": 100,
}
#: colours for lines and bars (matplotlib's tab10, colour-blind-friendlier than the default cycle order)
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def require(module: str, what: str = "this analysis"):
    """Import ``module`` or raise a one-line DCLError saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DCLError(f"{what} needs {module.split('.')[0]}, which is not installed: {INSTALL_HINT}") from None


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display), with :data:`STYLE` applied."""
    mpl = require("matplotlib", "drawing figures")
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG atomically (never a half-written file) and close it."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))
    return path


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV with a header row atomically; floats keep 6 significant digits."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    path = Path(path)
    atomic_write_text(path, buf.getvalue())
    return path


def method_label(method: str) -> str:
    """The paper's name of a method's local loss, for legends (``dcl`` -> ``L_dict (dcl)``)."""
    names = {"feat": "$L_{feat}$", "ll-cont": "$L_{contrast}$", "dcl": "$L_{dict}$",
             "dcl-s": "$L_{dict}$ static", "dcl-o": "$L_{dict}$ (DCL-O)", "dcl-ld": "$L_{dict}$ (DCL-LD)",
             "bp": "BP"}
    return f"{names[method]} ({method})" if method in names else method


def run_label(path: str | Path, cfg=None) -> str:
    """A short legend label for a run folder: its name, plus the method when the name lacks it."""
    name = Path(path).resolve().name
    if name == "checkpoint.pt":
        name = Path(path).resolve().parent.name
    if cfg is not None and cfg.method not in name:
        name = f"{name} ({cfg.method})"
    return name


def label_heatmap(values, class_names: Sequence[str], cmap: str, vmin: float, vmax: float):
    """A Z x Z heat map with the class names on both axes, sized for Z; returns ``(fig, ax, im)``
    (the caller writes the cells' numbers, labels and title)."""
    plt = pyplot()
    z = len(class_names)
    side = min(max(6.5, 0.55 * z + 2.5), 24)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.grid(False)
    fs = 10 if z <= 12 else (7 if z <= 30 else 5)
    ax.set_xticks(range(z), class_names, rotation=60, ha="right", fontsize=fs)
    ax.set_yticks(range(z), class_names, fontsize=fs)
    return fig, ax, im
