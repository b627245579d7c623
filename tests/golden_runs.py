"""Recorded 20-step runs of every built-in method: the "it must change no number" check.

Each method trains on a small network of its own for 20 steps on the first 640 real MNIST
training images (batch 32, seed 0, no augmentation), then predicts the first 500 test images.
What is recorded: every step's loss (and block losses), the test error of every prediction
mode, and a checksum of every trained weight. ``tests/test_golden_runs.py`` replays the runs
and compares them with ``tests/golden/method-runs.json``, bit for bit on the CPU and thread
count that recorded them.

Record again (only when a change is *meant* to change numbers, and say why in the commit):

    DCL_DATA_DIR=../shared/data python tests/golden_runs.py
"""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import torch

GOLDEN = Path(__file__).with_name("golden") / "method-runs.json"
STEPS = 20
THREADS = 2

_FC = dict(arch="fc", width=64, segments=4)
_CONV = dict(arch="conv", channels=(8, 16))
#: method -> its small network and the fields that make the run short
RUNS: dict[str, dict] = {
    "bp": _FC, "bp-ckpt": _FC, "bp-accum": _FC,
    "dcl": _FC, "dcl-s": _CONV, "dcl-o": _FC, "dcl-ld": _CONV,
    "feat": _CONV, "ll-cont": _CONV, "ll-contrec": _CONV, "ll-pred": _CONV, "ll-sim": _CONV,
    "ll-predsim": _CONV, "ll-bpf": _CONV,
    "ff": _FC, "symba": _FC,
    "pff": dict(arch="pff", width=40, pff_steps=3, pff_eval_steps=3),
    "cafo": dict(arch="cafo", channels=(2, 4, 8), cafo_steps=3),
    "drtp": dict(arch="drtp-fc", width=64),
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def small_mnist(data_dir):
    from dcl.data import Dataset, load_dataset
    ds = load_dataset("mnist", data_dir)
    return Dataset(ds.spec, ds.train.subset(torch.arange(640)), ds.test.subset(torch.arange(500)), ds.folder)


def run_method(method: str, dataset) -> dict:
    """Train ``method`` for :data:`STEPS` steps and return what is recorded."""
    import dcl
    from dcl.engine import evaluate_run

    fields = dict(RUNS[method])
    arch = fields.pop("arch")
    cfg = dcl.resolve_config(arch=arch, data="mnist", method=method, epochs=1, batch_size=32, lr=1e-3,
                             augment=False, seed=0, eval_batch_size=250, tensorboard=False, **fields)
    run = dcl.build_run(cfg, dataset=dataset)
    steps = []
    loader = run.train_loader()
    loader.set_epoch(0)
    run.net.train()
    for k, (x, y) in enumerate(loader):
        if k == STEPS:
            break
        stats = run.method.train_step(x, y)
        row = {"loss": float(stats["loss"])}
        if stats.get("block_losses") is not None:
            row["block_losses"] = [float(v) for v in stats["block_losses"]]
        steps.append(row)
    fitted = run.method.epoch_end() or {}
    errors = evaluate_run(run, "test")
    weights = [p.detach().double().sum().item() for p in run.net.parameters()]
    weights += [p.detach().double().sum().item() for p in run.method.aux.parameters()]
    return {
        "steps": steps,
        "fitted": {k: fitted[k] for k in ("train_loss", "block_losses") if k in fitted},
        "errors": {k: v for k, v in errors.items() if isinstance(v, (int, float, list))},
        "weight_sums": weights,
    }


def record(data_dir) -> dict:
    torch.set_num_threads(THREADS)
    dataset = small_mnist(data_dir)
    return {
        "cpu": cpu_name(), "threads": THREADS, "torch": torch.__version__,
        "runs": {m: run_method(m, dataset) for m in RUNS},
    }


if __name__ == "__main__":
    data_dir = os.environ.get("DCL_DATA_DIR")
    if not data_dir:
        sys.exit("set DCL_DATA_DIR to the folder holding mnist/")
    result = record(data_dir)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {GOLDEN}: {len(result['runs'])} methods on {result['cpu']}, {THREADS} threads")
