"""Checkpoints written atomically (temp file + fsync + rename), so a run killed mid-write
never leaves a broken ``checkpoint.pt``; and loading that refuses arbitrary pickled code.

Writing: a full disk (or any other failed write) is a one-line DCLError that says so; the
temporary file is removed and the previous file of that name is left as it was.
Reading: a file that is not a dcl checkpoint, one from a newer dcl, one that references a
global outside the allowed set (named in the error), and weights that do not fit the network
their config describes are each a one-line DCLError naming the file and what is wrong.
"""
from __future__ import annotations

import collections
import errno
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import DCLError

FORMAT = 1
#: what :func:`load_checkpoint` requires of a checkpoint by default (enough to evaluate it)
MODEL_KEYS = ("config", "net", "aux")
#: what resuming a run further requires
RESUME_KEYS = MODEL_KEYS + ("method", "rng", "history", "epoch")


def write_error(path: Path, e: OSError) -> DCLError:
    """The one-line error for a failed write of ``path``."""
    path = Path(path)
    if e.errno == errno.ENOSPC:
        why = "no space left on device"
    elif e.errno == errno.EDQUOT:
        why = "disk quota exceeded"
    else:
        why = (e.strerror or str(e)).lower()
    kept = f"; the previous {path.name} is kept" if path.is_file() else ""
    return DCLError(f"cannot write {path}: {why}{kept}")


class _RecordingWriter:
    """A file object whose ``write`` remembers the OSError it raised: ``torch.save`` turns a
    failed write into an unrelated ``RuntimeError`` ("unexpected pos ..."), this keeps the cause."""

    def __init__(self, f):
        self._f = f
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def current_umask() -> int:
    """The process's umask (Linux: read from /proc, which changes nothing; elsewhere set and
    restored at once)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path`` and rename it into place.

    A failed write (full disk, read-only or missing folder) raises DCLError and removes the
    temp file; ``path`` keeps its previous content.

    The file gets the mode any new file gets (0666 less the umask, e.g. 0644), not the 0600
    that ``mkstemp`` gives its temporary file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(path, e) from None
    rec = None
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            rec = _RecordingWriter(f)
            write(rec)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        cause = e if isinstance(e, OSError) else (rec.error if rec is not None else None)
        if cause is not None:
            raise write_error(path, cause) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    state = {"format": FORMAT, **state}
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def _load_error(path: Path, e: Exception) -> DCLError:
    """One line for a failed ``torch.load``: a refused global is named; torch's long advice is not repeated."""
    text = str(e)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return DCLError(f"refusing checkpoint {path}: it references {refused.group(1)}, which a dcl checkpoint "
                        f"never holds (only tensors and plain containers are loaded; is the file genuine?)")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].startswith("Weights only load failed"):  # keep torch's reason, not its advice
        lines = [ln for ln in lines[1:] if not ln.startswith(("Check the documentation", "Please file an issue"))]
        lines = lines or ["it holds objects a plain checkpoint does not"]
    msg = lines[0] if lines else type(e).__name__
    return DCLError(f"cannot read checkpoint {path}: {msg}")


def load_checkpoint(path: str | os.PathLike, map_location="cpu", require: tuple[str, ...] = MODEL_KEYS
                    ) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (plain containers and tensors only).

    ``require``: the keys it must hold (default: config and weights); a file without them, not
    a dcl checkpoint, or from a newer dcl raises DCLError naming the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise DCLError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):  # torch.save's format is a zip archive with its central directory last
        raise DCLError(f"cannot read checkpoint {path}: not a complete PyTorch file (truncated, or another "
                       f"kind of file)")
    try:
        with torch.serialization.safe_globals([collections.Counter]):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to read is the file's fault
        raise _load_error(path, e) from None
    fmt = state.get("format") if isinstance(state, dict) else None
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
        raise DCLError(f"{path} was written by a newer dcl (checkpoint format {fmt}; this dcl reads format "
                       f"{FORMAT}): upgrade dcl to read it")
    if fmt != FORMAT:
        raise DCLError(f"{path} is not a dcl checkpoint (format {FORMAT})")
    missing = [k for k in require if k not in state]
    if missing:
        what = "no config" if missing[0] == "config" else f"no {missing[0]!r} entry"
        raise DCLError(f"{path} has {what}, so it cannot be "
                       f"{'resumed' if set(missing) - set(MODEL_KEYS) else 'loaded'} "
                       f"(a checkpoint written by dcl train holds {', '.join(require)})")
    if "config" in require and not isinstance(state["config"], dict):
        raise DCLError(f"{path}: its config is a {type(state['config']).__name__}, not a dict of fields")
    return state


def checkpoint_config(state: dict[str, Any], path) -> Any:
    """The :class:`~dcl.config.TrainConfig` saved in ``state``; a bad one names the file."""
    from ..config import TrainConfig

    try:
        return TrainConfig.from_dict(state["config"])
    except DCLError as e:
        raise DCLError(f"{path}: the saved config is not valid: {e}") from None


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def load_fitting(module: torch.nn.Module, saved: Any, part: str, path, config: str) -> None:
    """``module.load_state_dict(saved)`` after checking that every name and shape agree.

    ``part``: whose weights they are (``"network"``, ``"method"``); ``config``: the
    config they should fit, in words (``"arch fc, method dcl"``). A mismatch is one line
    naming the first entry that disagrees.
    """
    where = f"{path} does not fit its config ({config})"
    if not isinstance(saved, dict):
        raise DCLError(f"{where}: its {part} weights are a {type(saved).__name__}, not a state dict")
    own = module.state_dict()
    missing = [k for k in own if k not in saved]
    extra = [k for k in saved if k not in own]

    def more(names: list[str]) -> str:
        return f"{names[0]}" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")

    if missing:
        raise DCLError(f"{where}: that config has the {part} weight {more(missing)}, which the checkpoint lacks")
    if extra:
        raise DCLError(f"{where}: the checkpoint holds the {part} weight {more(extra)}, which that config "
                       f"does not have")
    for k, v in own.items():
        s = saved[k]
        if not isinstance(s, torch.Tensor) or s.shape != v.shape:
            raise DCLError(f"{where}: {part} weight {k} is {_shape(s)} in the checkpoint but {_shape(v)} "
                           f"for that config")
    module.load_state_dict(saved)


def restore_method_state(method: Any, saved: Any, path, config: str) -> None:
    """``method.load_state_dict(saved)`` (optimizers, schedulers); a mismatch is one line."""
    try:
        method.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DCLError(f"{path} does not fit its config ({config}): the saved optimizer state does not "
                       f"fit: {first}") from None
