"""The registries' names and descriptions without importing torch (``dcl list``, name checks).

Architectures, methods and datasets register themselves when their packages are imported, and
those packages import torch (seconds). The command line needs only their names and one-line
descriptions to list them or to reject a misspelt name, so this module keeps them in a small
JSON cache keyed by a fingerprint of the package's source files:

* if a registry's package is already imported, its live registry is the answer (a program may
  have registered names of its own);
* else the cache for the current sources is read (one file, milliseconds);
* else (first use after the code changed) the packages are imported once and the cache is
  written atomically under ``$DCL_CACHE_DIR``, else ``$XDG_CACHE_HOME/dcl``, else ``~/.cache/dcl``
  (a cache that cannot be written only costs the import next time too).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from pathlib import Path

from ..errors import choices_error

#: kind -> (package, registry attribute, the word used in error messages)
KINDS: dict[str, tuple[str, str, str]] = {
    "archs": ("dcl.models", "ARCHS", "architecture"),
    "methods": ("dcl.methods", "METHODS", "method"),
    "datasets": ("dcl.data", "DATASETS", "dataset"),
    "presets": ("dcl.config", "PRESETS", "preset"),
}


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def source_fingerprint() -> str:
    """SHA-1 over the path and content of every ``.py`` file of the dcl package."""
    root = _package_dir()
    h = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("DCL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dcl"


def _live(kind: str) -> list[tuple[str, str]]:
    package, attr, _ = KINDS[kind]
    reg = getattr(importlib.import_module(package), attr)
    return [(e.name, e.description) for e in reg.entries()]


def _build_cache(path: Path) -> dict[str, list[list[str]]]:
    data = {kind: [list(e) for e in _live(kind)] for kind in KINDS if kind != "presets"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass
    return data


def entries(kind: str) -> list[tuple[str, str]]:
    """``[(name, description)]`` of registry ``kind`` (see :data:`KINDS`), in registration order."""
    package = KINDS[kind][0]
    if kind == "presets" or package in sys.modules:
        return _live(kind)
    path = cache_dir() / f"catalog-{source_fingerprint()}.json"
    try:
        data = json.loads(path.read_text())
        found = data[kind]
    except (OSError, ValueError, KeyError):
        found = _build_cache(path)[kind]
    return [(str(n), str(d)) for n, d in found]


def names(kind: str) -> list[str]:
    return [n for n, _ in entries(kind)]


def check_name(kind: str, name: str) -> None:
    """Raise :class:`~dcl.errors.DCLError` naming the valid choices if ``name`` is not registered."""
    valid = names(kind)
    if name not in valid:
        raise choices_error(KINDS[kind][2], name, valid)
