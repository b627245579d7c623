"""Callbacks: what happens around training without being training. The engine calls them; the
library's own loggers are callbacks, and a user's plug in the same way.

    class StopAt(dcl.Callback):
        def on_step(self, run, step):                 # after every training step
            if step.global_step == 100:
                raise KeyboardInterrupt
        def on_epoch_end(self, run, record):          # after each epoch's evaluation
            print(record["epoch"], record["test_error"])

    dcl.train(cfg, out="runs/x", callbacks=[StopAt()])

Hooks (all optional): ``on_train_start(run)``, ``on_step(run, step)`` with a :class:`Step`,
``on_epoch_end(run, record)`` with the epoch's row of ``metrics.jsonl``, ``on_train_end(run,
summary)``. ``run`` is the :class:`~dcl.engine.Run` (``run.cfg``, ``run.net``, ``run.method``,
``run.history``, ``run.out``).

Built in (with a run folder): :class:`CSVLogger` (``metrics.csv``: one row per epoch;
``steps.csv``: one row every ``cfg.log_every`` steps) and :class:`TensorBoardLogger` (event
files in ``OUT/tensorboard``: the same scalars, through ``torch.utils.tensorboard``'s writer;
off with a one-line note when the ``tensorboard`` package is missing); always:
:class:`EpochPrinter` (one line per epoch through ``log``).
"""
from __future__ import annotations

import csv
import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..devices import peak_memory_mb


@dataclass
class Step:
    """One training step as callbacks see it. ``stats`` holds the method's detached losses
    (``"loss"``: the head's cross-entropy; ``"block_losses"``: one per block, local methods);
    reading them as numbers waits for the device, so loggers do it only every few steps."""

    global_step: int          # steps since the run began, counting this one (1-based)
    epoch: int                # the epoch in progress (1-based)
    step: int                 # this step's place in its epoch (1-based)
    steps_in_epoch: int
    batch_size: int
    stats: dict[str, Any]


class Callback:
    """Base class: override the hooks you need."""

    def on_train_start(self, run) -> None: ...

    def on_step(self, run, step: Step) -> None: ...

    def on_epoch_end(self, run, record: dict[str, Any]) -> None: ...

    def on_train_end(self, run, summary: dict[str, Any]) -> None: ...


class CallbackList(Callback):
    """Calls each callback in order."""

    def __init__(self, callbacks: Iterable[Callback]):
        self.callbacks = list(callbacks)

    def on_train_start(self, run) -> None:
        for c in self.callbacks:
            c.on_train_start(run)

    def on_step(self, run, step: Step) -> None:
        for c in self.callbacks:
            c.on_step(run, step)

    def on_epoch_end(self, run, record: dict[str, Any]) -> None:
        for c in self.callbacks:
            c.on_epoch_end(run, record)

    def on_train_end(self, run, summary: dict[str, Any]) -> None:
        for c in self.callbacks:
            c.on_train_end(run, summary)


def step_scalars(run, step: Step) -> dict[str, float]:
    """The scalars of one step: head loss, each block's loss, lr."""
    out = {"loss": float(step.stats["loss"])}
    if "block_losses" in step.stats:
        for i, v in enumerate(step.stats["block_losses"].tolist(), start=1):
            out[f"block{i}_loss"] = float(v)
    out["lr"] = run.method.lr()
    return out


def epoch_scalars(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one ``metrics.jsonl`` row, lists spread out (``block1_test_error``, ...)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in ("epoch", "global_step"):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, list) and key == "block_losses":
            out.update({f"block{i}_train_loss": float(v) for i, v in enumerate(value, start=1)})
        elif isinstance(value, list) and key.startswith(("layer_", "val_layer_")):
            stem = key.replace("layer_", "").replace("_errors", "_error")
            out.update({f"block{i}_{stem}": float(v) for i, v in enumerate(value, start=1)})
        elif isinstance(value, dict):
            out.update({f"{key}.{k}": float(v) for k, v in value.items() if isinstance(v, (int, float))})
    return out


class _Throughput:
    """Samples per second between two log points."""

    def __init__(self):
        self.t, self.samples = time.perf_counter(), 0

    def add(self, n: int) -> None:
        self.samples += n

    def take(self) -> float:
        now = time.perf_counter()
        rate = self.samples / (now - self.t) if now > self.t else 0.0
        self.t, self.samples = now, 0
        return rate


class ScalarLogger(Callback):
    """Base of the loggers: every ``cfg.log_every`` steps ``write_step(global_step, scalars)``
    with loss, block losses, lr, samples/s and peak memory; after every epoch
    ``write_epoch(epoch, global_step, scalars)`` with the epoch's metrics."""

    def on_train_start(self, run) -> None:
        self.rate = _Throughput()

    def on_step(self, run, step: Step) -> None:
        self.rate.add(step.batch_size)
        if step.global_step % run.cfg.log_every == 0:
            scalars = step_scalars(run, step)
            scalars["samples_per_second"] = self.rate.take()
            scalars["peak_memory_mb"] = peak_memory_mb(run.device)
            self.write_step(step.epoch, step.global_step, scalars)

    def on_epoch_end(self, run, record: dict[str, Any]) -> None:
        scalars = epoch_scalars(record)
        scalars["peak_memory_mb"] = peak_memory_mb(run.device)
        self.write_epoch(record["epoch"], run.global_step, scalars)

    def write_step(self, epoch: int, global_step: int, scalars: dict[str, float]) -> None: ...

    def write_epoch(self, epoch: int, global_step: int, scalars: dict[str, float]) -> None: ...


class CSVLogger(ScalarLogger):
    """``metrics.csv`` (one row per epoch, the columns of ``metrics.jsonl`` with lists spread
    out) and ``steps.csv`` (one row every ``log_every`` steps) in the run folder. Rows are
    appended; a resumed run continues the files (rows past the checkpoint are dropped first)."""

    def __init__(self, out: Path):
        self.out = Path(out)

    def on_train_start(self, run) -> None:
        super().on_train_start(run)
        _truncate_csv(self.out / "metrics.csv", "epoch", len(run.history))
        _truncate_csv(self.out / "steps.csv", "global_step", run.global_step)

    def write_step(self, epoch: int, global_step: int, scalars: dict[str, float]) -> None:
        _append_csv(self.out / "steps.csv", {"global_step": global_step, "epoch": epoch, **scalars})

    def write_epoch(self, epoch: int, global_step: int, scalars: dict[str, float]) -> None:
        _append_csv(self.out / "metrics.csv", {"epoch": epoch, "global_step": global_step, **scalars})


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    """Append ``row``; a new column (e.g. a block's loss appearing) rewrites the file with it."""
    rows, header = [], list(row)
    if path.is_file():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            old = list(reader.fieldnames or [])
            if old and set(row) <= set(old):
                with open(path, "a", newline="") as fa:
                    csv.DictWriter(fa, fieldnames=old, restval="").writerow(row)
                return
            rows = list(reader)
            header = old + [k for k in row if k not in old]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="")
        w.writeheader()
        w.writerows(rows + [row])


def _truncate_csv(path: Path, key: str, upto: int) -> None:
    """Keep the rows of ``path`` whose ``key`` <= ``upto`` (a resume from an earlier point)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if r.get(key) and float(r[key]) <= upto]
    if len(kept) != len(rows):
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header, restval="")
            w.writeheader()
            w.writerows(kept)


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class TensorBoardLogger(ScalarLogger):
    """TensorBoard event files in ``OUT/tensorboard``: per-step scalars under ``step/`` (x: the
    global step) and per-epoch scalars under ``epoch/`` (x: the epoch). ``tensorboard --logdir
    runs`` shows every run. Written by ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(self, out: Path):
        self.dir = Path(out) / "tensorboard"
        self.writer = None

    def on_train_start(self, run) -> None:
        super().on_train_start(run)
        from torch.utils.tensorboard import SummaryWriter
        # purge_step: a resumed run drops events logged after its checkpoint
        self.writer = SummaryWriter(str(self.dir), purge_step=run.global_step + 1 if run.global_step else None)

    def write_step(self, epoch: int, global_step: int, scalars: dict[str, float]) -> None:
        for k, v in scalars.items():
            self.writer.add_scalar(f"step/{k}", v, global_step)

    def write_epoch(self, epoch: int, global_step: int, scalars: dict[str, float]) -> None:
        for k, v in scalars.items():
            self.writer.add_scalar(f"epoch/{k}", v, epoch)
        self.writer.flush()

    def on_train_end(self, run, summary: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.close()


class EpochPrinter(Callback):
    """One line per epoch through ``log`` (e.g. ``print``)."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log

    def on_epoch_end(self, run, record: dict[str, Any]) -> None:
        self.log(format_epoch(record, run.cfg.epochs))


def format_epoch(r: dict[str, Any], epochs: int) -> str:
    layers = " ".join(f"{e:.2f}" for e in r["layer_test_errors"])
    s = f"epoch {r['epoch']:>3}/{epochs}  loss {r['train_loss']:.4f}  test err {r['test_error']:.2f}%"
    if layers:
        s += f"  blocks [{layers}]%"
    if "val_error" in r:
        s += f"  val err {r['val_error']:.2f}%"
    return s + f"  {r['seconds']:.1f}s  ({r['samples_per_second']:.0f} samples/s)"


def default_callbacks(cfg, out: Path | None, log: Callable[[str], None] | None) -> list[Callback]:
    """The library's own callbacks for a run: the epoch printer (with ``log``) and, with a run
    folder, the CSV and TensorBoard loggers."""
    cbs: list[Callback] = [EpochPrinter(log)] if log else []
    if out is not None:
        cbs.append(CSVLogger(out))
        if cfg.tensorboard:
            if tensorboard_available():
                cbs.append(TensorBoardLogger(out))
            elif log:
                log("note: TensorBoard logging is off: the tensorboard package is not installed "
                    "(pip install 'dcl-local[tensorboard]'); metrics.csv and steps.csv are written")
    return cbs
