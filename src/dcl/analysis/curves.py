"""Learning curves of runs in one PNG (``dcl runs --plot``): per run, the test error of the
head (solid) and of every block's dictionary prediction (dashed, thinner), the validation
error when there is one (dotted), and the training loss; epochs on the x axis. Drawn with
matplotlib's Agg backend (no display needed; ``pip install 'dcl-local[plot]'``)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import DCLError
from .compare import read_metrics, read_summary


def plot_runs(folders: Iterable[Path], path: str | Path, title: str | None = None) -> Path:
    """Draw the learning curves of ``folders`` into the PNG ``path``; returns ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DCLError("dcl runs --plot needs matplotlib: pip install 'dcl-local[plot]'") from None
    folders = list(folders)
    if not folders:
        raise DCLError("no runs to plot")
    fig, (ax_err, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, folder in enumerate(folders):
        rows = read_metrics(folder)
        if not rows:
            continue
        s = read_summary(folder)
        color = colors[n % len(colors)]
        label = f"{Path(folder).name} ({s.get('arch')}, {s.get('method')})"
        ep = [r["epoch"] for r in rows]
        ax_err.plot(ep, [r["test_error"] for r in rows], color=color, lw=2, marker="o", ms=3, label=label)
        n_blocks = len(rows[-1].get("layer_test_errors", []))
        for b in range(n_blocks):
            ax_err.plot(ep, [r["layer_test_errors"][b] for r in rows], color=color, lw=0.8, ls="--",
                        alpha=0.4 + 0.6 * (b + 1) / n_blocks)
        if any("val_error" in r for r in rows):
            ax_err.plot(ep, [r.get("val_error") for r in rows], color=color, lw=1, ls=":")
        ax_loss.plot(ep, [r["train_loss"] for r in rows], color=color, lw=2, marker="o", ms=3, label=label)
    ax_err.set(xlabel="epoch", ylabel="test error %", title="test error: head (solid), blocks (dashed), val (dotted)")
    ax_loss.set(xlabel="epoch", ylabel="train loss (head cross-entropy)", title="training loss")
    from matplotlib.ticker import MaxNLocator
    for ax in (ax_err, ax_loss):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
