"""Training the runs of a grid, resumably: a run already done is read, not trained again; a run
interrupted mid-way continues from its last checkpoint (``dcl.train(..., resume=True)``).

Every run goes through :func:`dcl.train`, so the same command trains on a CPU, on a GPU
(``--device cuda``) and under the data-parallel launcher (``torchrun ... -m dcl reproduce``):
nothing here depends on the device. Only the main process writes provenance and tables.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..engine.checkpoint import atomic_write_text, write_json
from ..errors import DCLError
from .grid import REF_PREFIX, Grid, RunSpec, run_identity
from ..devices import loadavg
from .provenance import command_line, record_session, is_main_process, machine, now


@dataclass
class RunState:
    status: str            # done | partial | todo | failed
    epochs: int = 0        # epochs in the folder
    error: str | None = None


def run_state(spec: RunSpec, out: Path) -> RunState:
    """What the folder of ``spec`` holds: a finished run, a checkpoint to resume, or nothing."""
    d, t = spec.folder(out), spec.train_dir(out)
    summary = t / "summary.json"
    epochs = 0
    if summary.is_file():
        try:
            epochs = int(json.loads(summary.read_text()).get("epochs") or 0)
        except (ValueError, OSError):
            epochs = 0
        if epochs >= spec.cfg.epochs:
            return RunState("done", epochs)
    if (t / "checkpoint.pt").is_file():
        return RunState("partial", epochs)
    if (d / "error.txt").is_file():
        return RunState("failed", epochs, (d / "error.txt").read_text().splitlines()[0])
    return RunState("todo", 0)


def _check_identity(spec: RunSpec, d: Path) -> None:
    """The folder must hold this run (not another with a colliding name)."""
    path = d / "run.json"
    ident = {"key": spec.key, "seed": spec.seed, "identity": run_identity(spec.cfg),
             "refs": {k: REF_PREFIX + v for k, v in spec.refs.items()}}
    ident = json.loads(json.dumps(ident, default=str))
    if path.is_file():
        held = json.loads(path.read_text())
        if held != ident:
            raise DCLError(f"{d} holds another run ({held.get('key')}); move it away or use another --out")
    elif is_main_process():
        write_json(path, ident)


def resolve_refs(spec: RunSpec, out: Path) -> dict[str, str]:
    """Config values of the fields that name another run: that run's checkpoint path. A
    referenced run must be done first (:meth:`Grid.runs` puts it before)."""
    values = {}
    for name, key in spec.refs.items():
        ref = RunSpec(key, spec.seed, spec.cfg)
        if run_state(ref, out).status != "done":
            raise DCLError(f"{spec.key} needs the finished run {key} (seed {spec.seed}) first")
        values[name] = str(ref.train_dir(out) / "checkpoint.pt")
    return values


def train_run(spec: RunSpec, out: Path, *, data_dir=None, progress: bool = False,
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train (or resume) one run into its folder; record the session in ``provenance.json``."""
    from ..engine.loop import train

    d, t = spec.folder(out), spec.train_dir(out)
    state = run_state(spec, out)
    if state.status == "done":
        return json.loads((t / "summary.json").read_text())
    d.mkdir(parents=True, exist_ok=True)
    _check_identity(spec, d)
    cfg = spec.cfg.replace(**resolve_refs(spec, out)) if spec.refs else spec.cfg
    resume = state.status == "partial"
    if is_main_process():
        if (d / "error.txt").is_file():
            (d / "error.txt").unlink()
        if not resume and t.exists():  # no finished epoch in it: nothing to keep
            shutil.rmtree(t)
    session = {"id": f"{os.getpid()}-{time.time_ns()}", "started": now(), "ended": None,
               "from_epoch": state.epochs if resume else 0, "to_epoch": None, "command": command_line(),
               "loadavg_start": loadavg(), **machine(cfg.device)}
    if is_main_process():
        record_session(d, session)       # visible even if this process is killed
    t0 = time.perf_counter()
    try:
        summary = train(cfg, t, data_dir=data_dir, resume=resume, progress=progress, log=log)
    except Exception as e:
        if is_main_process():
            atomic_write_text(d / "error.txt", f"{type(e).__name__}: {e}\n\n{traceback.format_exc()}")
        raise
    finally:
        session.update(ended=now(), wall_seconds=round(time.perf_counter() - t0, 1), loadavg_end=loadavg(),
                       to_epoch=_epochs_in(t))
        if is_main_process():
            record_session(d, session)
    return summary


def _epochs_in(d: Path) -> int:
    try:
        return int(json.loads((d / "summary.json").read_text()).get("epochs") or 0)
    except (OSError, ValueError):
        return 0


@contextlib.contextmanager
def shared_process_group(device: str):
    """Under a launcher (``torchrun``: WORLD_SIZE > 1), one process group for the whole grid,
    which every run's :func:`dcl.train` joins (``dcl.parallel`` reuses a group its caller made)
    instead of creating and destroying one per run. Elsewhere: nothing."""
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        yield
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def run_grid(grid: Grid, *, data_dir=None, progress: bool = False, log: Callable[[str], None] = print,
             train_one: Callable[..., Any] = train_run) -> dict[str, int]:
    """Train every run of ``grid`` whose cell can run and which is not done yet, in order.

    A run that fails (its error is kept in the run folder's ``error.txt``) does not stop the
    others; ``KeyboardInterrupt`` does (the finished runs and checkpoints stay). Returns counts
    of runs ``trained``, ``reused``, ``failed`` and ``blocked`` (no data / waiting for a reference).
    """
    from tqdm.auto import tqdm

    runs = grid.runs()
    counts = {"trained": 0, "reused": 0, "failed": 0, "blocked": 0}
    todo = []
    for r in runs:
        if run_state(r, grid.out).status == "done":
            counts["reused"] += 1
        else:
            todo.append(r)
    if counts["reused"]:
        log(f"{counts['reused']} run(s) already done in {grid.out}/runs: reused")
    if not todo:
        return counts
    with shared_process_group(todo[0].cfg.device):
        _train_all(todo, grid, counts, data_dir, progress, log, train_one, tqdm)
    return counts


def _train_all(todo, grid, counts, data_dir, progress, log, train_one, tqdm) -> None:
    bar = tqdm(todo, desc=f"{grid.table.name} runs", disable=not progress, dynamic_ncols=True)
    for i, r in enumerate(bar, 1):
        st = run_state(r, grid.out)
        what = f"[{i}/{len(todo)}] {r.cfg.method} on {r.cfg.arch} / {r.cfg.data}, seed {r.seed}, {r.cfg.epochs} epochs"
        log(what + (f" (resuming at epoch {st.epochs})" if st.status == "partial" else "") + f" -> {r.folder(grid.out)}")
        try:
            train_one(r, grid.out, data_dir=data_dir, progress=progress, log=(bar.write if progress else log))
            counts["trained"] += 1
        except DCLError as e:
            blocked = "needs the finished run" in str(e)
            counts["blocked" if blocked else "failed"] += 1
            log(f"  {'waiting' if blocked else 'failed'}: {e}")
        except Exception as e:  # noqa: BLE001 - one broken run must not stop the grid
            counts["failed"] += 1
            log(f"  failed: {type(e).__name__}: {e} (traceback in {r.folder(grid.out) / 'error.txt'})")
