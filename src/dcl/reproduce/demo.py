"""The quick-start demo: DCL next to BP on real Fashion-MNIST, results side by side.

    from dcl.reproduce.demo import run_demo
    rows = run_demo(epochs=2)          # list of summary dicts, one per method
"""
from __future__ import annotations

from typing import Any, Callable

from ..config import resolve_config

DEMO_ARCH = "fc"
DEMO_DATA = "fashion-mnist"
DEMO_METHODS = ("dcl", "bp")


def run_demo(epochs: int = 2, methods=DEMO_METHODS, arch: str = DEMO_ARCH, data: str = DEMO_DATA,
             data_dir=None, out=None, progress: bool = False, log: Callable[[str], None] | None = None,
             overwrite: bool = False) -> list[dict[str, Any]]:
    """Train ``arch`` on ``data`` with each method (the paper's preset, ``epochs`` epochs).

    Every method's config is resolved (names and values checked) before any training starts.
    With ``out``, each run goes to ``out/METHOD/``.
    """
    cfgs = [resolve_config(arch=arch, data=data, method=m, epochs=epochs) for m in methods]
    from ..data import load_dataset  # torch: imported here so that `dcl --help` stays fast
    from ..engine.loop import train
    dataset = load_dataset(data, data_dir)
    rows = []
    for cfg in cfgs:
        if log:
            log(f"--- {cfg.method}: {arch} on {data}, {epochs} epochs (preset {cfg.preset})")
        run_out = None if out is None else f"{out}/{cfg.method}"
        rows.append(train(cfg, run_out, dataset=dataset, progress=progress, log=log, overwrite=overwrite))
    return rows
