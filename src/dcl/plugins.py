"""Methods, networks and datasets from outside the package.

A plugin is a Python file or an importable module that registers what it adds, through the
public registries (``dcl.methods.METHODS``, ``dcl.models.ARCHS``, ``dcl.data.DATASETS``)::

    dcl train --plugin my_method.py --method my-method --data mnist --set my_alpha=0.3
    dcl.train(dcl.resolve_config(method="my-method", plugins=("my_method.py",)))

A run records its plugins in its config (``plugins``, files as absolute paths), so resuming
it, ``dcl eval``, ``dcl predict`` and ``dcl.load`` import them again. An installed package
can instead declare an entry point in the group ``dcl.methods`` (``[project.entry-points."dcl.methods"]``
in its ``pyproject.toml``, as pytest and timm plugins do); those load with ``dcl.methods``.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable

from .errors import DCLError

#: the entry-point group whose entries are imported when dcl.methods is
ENTRY_POINT_GROUP = "dcl.methods"

_loaded: dict[str, ModuleType] = {}


def plugin_key(spec: str) -> str:
    """How a run records ``spec``: a file as its absolute path, a module by its name."""
    spec = str(spec).strip()
    if not spec:
        raise DCLError("a plugin must be a .py file or a module name, got ''")
    if spec.endswith(".py") or "/" in spec or Path(spec).is_file():
        return str(Path(spec).expanduser().resolve())
    return spec


def load_plugin(spec: str) -> ModuleType:
    """Import the plugin ``spec`` (a ``.py`` file or a module name) once; what it registers is
    then in the registries. A missing file or a failing import is a one-line DCLError."""
    key = plugin_key(spec)
    if key in _loaded:
        return _loaded[key]
    if key.startswith("/"):
        path = Path(key)
        if not path.is_file():
            raise DCLError(f"plugin file {spec} does not exist")
        name = f"dcl_plugin_{path.stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise DCLError(f"plugin {spec} is not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except DCLError:
            del sys.modules[name]
            raise
        except Exception as e:  # the plugin's own error, said in one line
            del sys.modules[name]
            raise DCLError(f"plugin {spec} failed to import: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(key)
        except ModuleNotFoundError as e:
            raise DCLError(f"plugin module {key!r} not found ({e}); give a .py file or an installed module") from None
        except DCLError:
            raise
        except Exception as e:
            raise DCLError(f"plugin {key} failed to import: {type(e).__name__}: {e}") from None
    _loaded[key] = module
    return module


def load_plugins(specs: Iterable[str]) -> tuple[str, ...]:
    """Import every plugin in ``specs``; return how a config records them."""
    keys = tuple(plugin_key(s) for s in specs)
    for key in keys:
        load_plugin(key)
    return keys


def entry_points() -> list[importlib.metadata.EntryPoint]:
    """The installed packages' entry points in :data:`ENTRY_POINT_GROUP`."""
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_entry_points() -> None:
    """Import every installed ``dcl.methods`` entry point (called when dcl.methods loads)."""
    for ep in entry_points():
        try:
            ep.load()
        except Exception as e:
            raise DCLError(f"installed plugin {ep.name} ({ep.value}) failed to import: {type(e).__name__}: {e}") \
                from None
