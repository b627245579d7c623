"""Holding a run folder while a run writes it: the checks on ``--out``, an exclusive lock, and
the removal of temporary files a killed write left behind.

    with hold_run_folder(out):          # out: a folder, made if need be
        ...                             # only this process writes checkpoint.pt, metrics ...

* ``--out`` must name a folder that exists or can be made: an empty name, an existing file,
  a path through a file, or a read-only place is a one-line DCLError before any work starts.
* The lock is ``fcntl.flock`` on ``OUT/.dcl-lock``, which holds the owner's pid. A second
  process (or a second ``train`` call in the same process) that asks for the same folder gets a
  one-line DCLError naming that pid; the kernel drops the lock when its owner exits, however
  it exits, so a killed run never leaves a folder locked. The lock file itself stays (empty
  of meaning once unlocked; it is not part of the run's results).
* Once the lock is held no one else writes the folder, so leftover temporary files of
  :func:`dcl.engine.checkpoint.atomic_write_bytes` (``.checkpoint.pt.XXXXXXXX.tmp`` ..., left by a
  kill during a write) are removed.

* A run that fails before it holds anything (``keep_if`` false: no checkpoint, no metrics),
  a missing dataset for one, leaves nothing behind: what appeared in the folder while it was
  held, the lock file and the folders this call made are removed (the folders only when
  empty, and only by the process that held the lock).

Where ``fcntl`` does not exist (Windows) the folder is checked and cleaned but not locked.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DCLError

LOCK_NAME = ".dcl-lock"
#: the temporary files of atomic_write_bytes: ``.NAME.`` + mkstemp's 8 characters + ``.tmp``
_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def check_out_path(out: str | os.PathLike, make: bool = True) -> Path:
    """``out`` as a Path, made if missing (``make``); a name that cannot be a run folder raises
    DCLError."""
    if not str(out).strip():
        raise DCLError("--out is empty; give the run folder's name (e.g. --out runs/fc-mnist)")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise DCLError(f"--out {path} is a file, not a folder")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise DCLError(f"--out {path} lies inside {parent}, which is a file, not a folder")
    try:
        if make:
            path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DCLError(f"cannot create the run folder {path}: {(e.strerror or str(e)).lower()}") from None
    return path


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete leftover ``.NAME.XXXXXXXX.tmp`` files in ``folder`` (call with the lock held)."""
    removed = []
    for p in folder.iterdir():
        if _TEMP.match(p.name) and p.is_file() and not p.is_symlink():
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed


def _holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "another process"


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    return [p for p in (path, *path.parents) if not p.exists()] if str(path).strip() else []


def _remove_new(folder: Path, before: set[str]) -> None:
    for name in set(os.listdir(folder)) - before:
        p = folder / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


@contextlib.contextmanager
def hold_run_folder(out: str | os.PathLike, keep_if: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Check and make ``out``, lock it for this process, clean leftover temp files; yield it.

    ``keep_if``: when the body raises and ``keep_if(folder)`` is false, what this call made is
    removed (see the module's doc); None keeps everything."""
    made = _missing_folders(Path(out))
    path = check_out_path(out)
    lock_path = path / LOCK_NAME
    new_lock, failed_empty = not lock_path.exists(), False
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        why = "read-only file system" if e.errno == errno.EROFS else (e.strerror or str(e)).lower()
        raise DCLError(f"cannot write the run folder {path}: {why}") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DCLError(f"the run folder {path} is in use by {_holder(lock_path)} (a dcl run is writing "
                               f"it); wait for it to finish or choose another --out") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the lock holds all the same, only the pid is not shown
            pass
        remove_stale_temp_files(path)
        before = set(os.listdir(path))
        try:
            yield path
        except BaseException:
            if keep_if is not None and not keep_if(path):
                failed_empty = True
                _remove_new(path, before)
            raise
    finally:
        os.close(fd)  # releases the lock
        if failed_empty:
            if new_lock:
                lock_path.unlink(missing_ok=True)
            for p in made:
                try:
                    p.rmdir()
                except OSError:  # not empty (someone else's files): kept
                    break
