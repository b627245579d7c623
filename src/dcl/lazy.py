"""Lazy package exports: a package names what it exports and the submodule that defines each,
and a name is imported on first access. Importing the package stays cheap (no torch), so the
command line starts fast (``dcl --help``, ``dcl list``, ``dcl runs``).

    __getattr__, __dir__ = lazy_exports(__name__, {"train": ".loop", "Run": ".run"})
"""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps a public name to the module
    (relative to ``package``) that defines it."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
