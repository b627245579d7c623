"""Where a result came from: the machine, the device, the code (git commit), the load.

Every training session of a grid run appends one record to the run folder's
``provenance.json``; an interrupted run resumed later has one record per session.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..engine.checkpoint import write_json
from ..devices import cpu_name


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the ``dcl`` source in use (``+dirty`` with uncommitted changes under
    ``src/``), or ``dcl VERSION`` when it is not a git checkout."""
    from .. import __version__
    pkg = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(pkg), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            raise OSError(head.stderr)
        dirty = subprocess.run(["git", "-C", str(pkg), "status", "--porcelain", "--", str(pkg)],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"dcl {__version__}"


def machine(device: str = "cpu") -> dict[str, Any]:
    """Host, CPU, cores, torch threads, device (and GPU name on CUDA), torch, python, commit."""
    import torch
    info: dict[str, Any] = {"host": platform.node(), "cpu": cpu_name(), "cores": os.cpu_count(),
                            "threads": torch.get_num_threads(), "device": device, "torch": torch.__version__,
                            "python": platform.python_version(), "commit": code_version()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    world = os.environ.get("WORLD_SIZE")
    if world and world != "1":
        info["world_size"] = int(world)
    return info


def machine_line(info: dict[str, Any]) -> str:
    dev = info.get("gpu") or info.get("device", "cpu")
    world = f" x {info['world_size']} processes" if info.get("world_size") else ""
    return (f"{info.get('host', '?')}: {info.get('cpu', '?')}, {info.get('cores', '?')} cores, "
            f"{info.get('threads', '?')} torch threads; device {dev}{world}; torch {info.get('torch', '?')}; "
            f"dcl commit {info.get('commit', '?')}")


def now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def is_main_process() -> bool:
    """True except in the non-zero ranks of a data-parallel launch (torchrun sets RANK):
    only one process writes the shared files."""
    return os.environ.get("RANK", "0") == "0"


def record_session(run_dir: Path, session: dict[str, Any]) -> None:
    """Add ``session`` to the run's ``provenance.json``, or update the record with its ``id``
    (a session is recorded when it starts, so a killed one stays visible, and again when it ends)."""
    path = Path(run_dir) / "provenance.json"
    data = [s for s in read_provenance(run_dir) if s.get("id") != session.get("id")]
    data.append(session)
    write_json(path, data)


def read_provenance(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "provenance.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()))


def command_line() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith(("dcl", "__main__.py")):
        argv[0] = "dcl"
    return " ".join(argv)
