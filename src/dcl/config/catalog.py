"""The registries' names, descriptions, declared options and presets without importing torch
(``dcl list``, name checks, ``--set`` checks, resolving a config).

Architectures, methods and datasets register themselves when their packages are imported, and
those packages import torch (seconds). The command line needs only what they declare, so this
module keeps it in a small JSON cache keyed by a fingerprint of the package's source files:

* if the registries' packages are already imported, the live registries are the answer (a
  program or ``--plugin`` may have registered names of its own);
* else the cache for the current sources is read (one file, milliseconds);
* else (first use after the code changed) the packages are imported once and the cache is
  written atomically under ``$DCL_CACHE_DIR``, else ``$XDG_CACHE_HOME/dcl``, else ``~/.cache/dcl``
  (a cache that cannot be written only costs the import next time too).

Nothing here is typed by hand: every name, option and preset comes from a registration.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import choices_error
from .options import Option

#: kind -> (package, registry attribute, the word used in error messages)
KINDS: dict[str, tuple[str, str, str]] = {
    "archs": ("dcl.models", "ARCHS", "architecture"),
    "methods": ("dcl.methods", "METHODS", "method"),
    "datasets": ("dcl.data", "DATASETS", "dataset"),
    "presets": ("dcl.config.presets", "PRESETS", "preset"),
}
#: the kinds whose entries declare options, and the word a refusal names them by
OPTION_KINDS = {"methods": "method", "archs": "arch"}


def _package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def source_fingerprint() -> str:
    """SHA-1 over the path and content of every ``.py`` file of the dcl package, and the
    installed ``dcl.methods`` entry points (an installed plugin changes what is registered)."""
    from ..plugins import entry_points

    root = _package_dir()
    h = hashlib.sha1(repr(sorted((ep.name, ep.value) for ep in entry_points())).encode())
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


def _registry(kind: str):
    package, attr, _ = KINDS[kind]
    return getattr(importlib.import_module(package), attr)


def _snapshot() -> dict[str, Any]:
    """Everything the cache holds, read from the live registries (imports the packages)."""
    for kind in ("archs", "methods", "datasets"):
        _registry(kind)  # importing dcl.methods registers the methods' own presets too
    data: dict[str, Any] = {kind: [[e.name, e.description] for e in _registry(kind).entries()] for kind in KINDS}
    data["options"] = {kind: {e.name: [o.spec() for o in e.options] for e in _registry(kind).entries()}
                       for kind in OPTION_KINDS}
    data["preset_values"] = {e.name: _jsonable(e.obj) for e in _registry("presets").entries()}
    data["own_arch"] = {e.name: getattr(e.obj, "own_arch", None) for e in _registry("methods").entries()}
    return data


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _live() -> bool:
    """Are the registries imported (then torch is too, and a plugin may have added names)?"""
    if not any(KINDS[k][0] in sys.modules for k in ("archs", "methods", "datasets")):
        return False
    for kind in ("archs", "methods", "datasets"):
        _registry(kind)
    return True


def _cached(fingerprint: str) -> dict[str, Any]:
    """The cache file for ``fingerprint``, written from the live registries if it is missing."""
    path = cache_dir() / f"catalog-{fingerprint}.json"
    try:
        data = json.loads(path.read_text())
        if all(k in data for k in (*KINDS, "options", "preset_values", "own_arch")):
            return data
    except (OSError, ValueError):
        pass
    data = _snapshot()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass
    return data


@functools.cache
def _fingerprint() -> str:
    return source_fingerprint()


def _key() -> tuple:
    """What the snapshot in use depends on: the live registries' sizes (they only grow, so the
    sizes say whether one changed), or the sources when the registries are not imported."""
    return ("live", tuple(len(_registry(k)) for k in KINDS)) if _live() else ("cache", _fingerprint())


@functools.lru_cache(maxsize=4)
def _snapshot_for(key: tuple) -> dict[str, Any]:
    return _snapshot() if key[0] == "live" else _cached(key[1])


def _data() -> dict[str, Any]:
    """The live registries' snapshot when they are imported, else the cached one."""
    return _snapshot_for(_key())


def entries(kind: str) -> list[tuple[str, str]]:
    """``[(name, description)]`` of registry ``kind`` (see :data:`KINDS`), in registration order."""
    return [(str(n), str(d)) for n, d in _data()[kind]]


def names(kind: str) -> list[str]:
    return [n for n, _ in entries(kind)]


def check_name(kind: str, name: str) -> None:
    """Raise :class:`~dcl.errors.DCLError` naming the valid choices if ``name`` is not registered."""
    valid = names(kind)
    if name not in valid:
        raise choices_error(KINDS[kind][2], name, valid)


@functools.lru_cache(maxsize=256)
def _options(kind: str, name: str, key: tuple) -> dict[str, Option] | None:
    specs = _snapshot_for(key)["options"][kind].get(name)
    return None if specs is None else {s["name"]: Option.from_spec(s) for s in specs}


def declared_options(method: str, arch: str) -> dict[str, Option]:
    """The options that ``method`` and ``arch`` declare, by name (an unknown name declares none)."""
    out: dict[str, Option] = {}
    key = _key()
    for kind, name in (("archs", arch), ("methods", method)):
        out.update(_options(kind, name, key) or {})
    return out


def all_options() -> dict[str, Option]:
    """Every option any registered method or network declares, by name (the first declaration)."""
    return _all_options(_key())


@functools.lru_cache(maxsize=4)
def _all_options(key: tuple) -> dict[str, Option]:
    out: dict[str, Option] = {}
    for kind in OPTION_KINDS:
        for name in _snapshot_for(key)["options"][kind]:
            for opt_name, option in (_options(kind, name, key) or {}).items():
                out.setdefault(opt_name, option)
    return out


def readers(option: str) -> dict[str, list[str]]:
    """``{"method": ["ff", "symba"]}``: the methods and networks that declare ``option``, by kind."""
    out: dict[str, list[str]] = {}
    for kind, owner, _ in option_owners(option):
        out.setdefault(kind, []).append(owner)
    return out


def option_owners(option: str) -> list[tuple[str, str, Option]]:
    """``[(kind word, owner name, Option)]`` of every method and network declaring ``option``."""
    key = _key()
    return [(word, name, opts[option]) for kind, word in OPTION_KINDS.items()
            for name in _data()["options"][kind] if option in (opts := _options(kind, name, key) or {})]


def own_arch(method: str) -> str | None:
    """The network method ``method`` was made for (its ``own_arch``), or None."""
    return _data()["own_arch"].get(method)


def preset_names() -> list[str]:
    return list(_data()["preset_values"])


def preset_values(name: str) -> dict[str, Any]:
    """The field values of preset ``name`` (lists for tuples; a DCLError names the valid ones)."""
    values = _data()["preset_values"].get(name)
    if values is None:
        raise choices_error("preset", name, preset_names())
    return dict(values)
