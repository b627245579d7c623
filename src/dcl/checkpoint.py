"""Checkpoints written atomically (temp file + fsync + rename), so a run killed mid-write
never leaves a broken ``checkpoint.pt``; and loading that refuses arbitrary pickled code."""
from __future__ import annotations

import collections
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import DCLError

FORMAT = 1


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

    The file gets the mode any new file gets (0666 less the umask, e.g. 0644), not the 0600
    that ``mkstemp`` gives its temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    state = {"format": FORMAT, **state}
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (plain containers and tensors only)."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise DCLError(f"no checkpoint at {path}")
    try:
        with torch.serialization.safe_globals([collections.Counter]):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to read is the file's fault
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DCLError(f"cannot read checkpoint {path}: {msg}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DCLError(f"{path} is not a dcl checkpoint (format {FORMAT})")
    return state
