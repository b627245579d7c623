"""Run folders: where a run's files go, what protects them, and what a resume may change.

A run folder holds ``checkpoint.pt`` (the latest state, every epoch and every
``checkpoint_every`` steps), ``best.pt`` (the weights of the best epoch by validation error,
with ``val_split``), ``metrics.jsonl`` / ``metrics.csv`` (one row per epoch), ``steps.csv``
(one row every ``log_every`` steps), ``tensorboard/`` (event files), ``config.toml`` (the
whole config; ``dcl train --config`` reads it back) and ``summary.json``.

* A folder that already holds a run is never overwritten unless asked (``overwrite=True``,
  ``--overwrite``); ``--resume`` continues it instead.
* Without ``--out`` the command line makes a fresh folder ``runs/ARCH-DATA-METHOD-TIME``.
* A resumed run keeps its config; only the fields in :data:`RESUME_CHANGEABLE` may differ
  (e.g. more ``epochs``); asking for any other change is a one-line error.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from ..config import TrainConfig, coerce_overrides
from ..errors import DCLError

#: the files (and folder) of a run, removed by ``overwrite``
RUN_FILES = ("checkpoint.pt", "best.pt", "summary.json", "metrics.jsonl", "metrics.csv", "steps.csv",
             "config.toml")
RUN_DIRS = ("tensorboard",)
#: the files whose presence means a folder holds a run
RUN_MARKERS = ("checkpoint.pt", "summary.json", "metrics.jsonl")
#: config fields a resumed run may change: how long, where, and how it logs; not what it computes
RESUME_CHANGEABLE = ("epochs", "device", "eval_batch_size", "log_every", "tensorboard", "checkpoint_every")


def holds_run(folder: Path) -> bool:
    return any((Path(folder) / m).exists() for m in RUN_MARKERS)


def prepare_out(out: Path, overwrite: bool = False, remove: bool = True) -> None:
    """Make ``out`` ready for a new run: refuse a folder holding a run unless ``overwrite``,
    which removes that run's files (and nothing else in the folder); ``remove=False`` only
    checks (the engine removes the old run once the new one has its data and network)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DCLError(f"--out {out} is a file, not a folder")
    if holds_run(out):
        if not overwrite:
            raise DCLError(f"{out} already holds a run; pass --overwrite (overwrite=True) to replace it, "
                           f"--resume to continue it, or choose another --out")
        if not remove:
            return
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        for name in RUN_DIRS:
            shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def resume_command(out: str | Path, data_dir: str | Path | None = None, plugins: tuple[str, ...] = (),
                   world_size: int | None = None) -> str | None:
    """The command that continues the run in ``out`` (None when it holds no checkpoint yet):
    ``dcl train --out OUT --resume`` with the data folder and plugins it was given, under
    ``torchrun --nproc-per-node N`` when it ran as N processes (``world_size``, default
    ``$WORLD_SIZE``)."""
    if not (Path(out) / "checkpoint.pt").is_file():
        return None
    world = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE", "1") or 1)
    words = ["torchrun", "--nproc-per-node", str(world), "-m", "dcl"] if world > 1 else ["dcl"]
    words += ["train", "--out", str(out), "--resume"]
    if data_dir is not None:
        words += ["--data-dir", str(data_dir)]
    for p in plugins:
        words += ["--plugin", str(p)]
    return shlex.join(words)


def auto_out(cfg: TrainConfig, root: str | Path = "runs") -> Path:
    """A fresh folder name ``ROOT/ARCH-DATA-METHOD-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... if taken)."""
    stem = f"{cfg.arch}-{cfg.data}-{cfg.method}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = Path(root) / stem, 1
    while path.exists():
        n += 1
        path = Path(root) / f"{stem}-{n}"
    return path


def git_commit(folder: Path) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``folder``, else None."""
    try:
        sha = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if sha.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5)
        return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict[str, Any]:
    """What code made a run: the dcl version and, when dcl runs from a git checkout, its commit."""
    from .. import __version__
    git = git_commit(Path(__file__).resolve().parent)
    return {"dcl_version": __version__, "git_commit": git["commit"] if git else None,
            "git_dirty": git["dirty"] if git else None}


def resume_config(saved: dict[str, Any], given: dict[str, Any] | TrainConfig | None,
                  ignore: tuple[str, ...] = ()) -> TrainConfig:
    """The config of a resumed run: the checkpoint's (``saved``), with the changes in ``given``.

    ``given``: the fields asked for explicitly (a dict, e.g. the command line's flags), or a
    whole TrainConfig (every field that differs counts as asked for), or None. A change to a
    field outside :data:`RESUME_CHANGEABLE` (and ``ignore``) raises DCLError naming it. Without
    ``epochs`` the run continues to its own epoch count.
    """
    base = TrainConfig.from_dict(saved)
    if given is None:
        return base
    if isinstance(given, TrainConfig):
        # None in the given config means "let the engine choose" (e.g. stage_split): whatever
        # the run chose then is kept, not a change
        # (options the saved run does not hold, e.g. fc's width for a run of the user's network, are not its)
        saved_fields = base.to_dict()
        changes = {k: v for k, v in given.to_dict().items()
                   if v is not None and k in saved_fields and v != saved_fields[k]}
    else:
        asked = coerce_overrides(base, given)  # unknown fields and bad values are errors here too
        changes = {k: getattr(asked, k) for k in (g.replace("-", "_") for g in given)
                   if getattr(asked, k) != getattr(base, k)}
    bad = [k for k in changes if k not in RESUME_CHANGEABLE and k not in ignore]
    if bad:
        k = bad[0]
        raise DCLError(f"--resume continues the run as it was configured: {k} is {getattr(base, k)!r} there, "
                       f"not {changes[k]!r}; a resume may change only {', '.join(RESUME_CHANGEABLE)} "
                       f"(start a new run for the rest)")
    return base.replace(**{k: v for k, v in changes.items() if k in RESUME_CHANGEABLE})
