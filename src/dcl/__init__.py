"""dcl: Dictionary Contrastive Learning (Choi et al., ICLR 2024) and local supervision.

The public API:

* :func:`resolve_config`, :class:`TrainConfig`, :data:`PRESETS` - run configuration
* :func:`train`, :func:`build_run` - the training engine
* :mod:`dcl.losses` - ``dict_logits``, ``dict_loss``, ``DictionaryContrastiveLoss`` (Eq. 2)
* :mod:`dcl.models` - networks as blocks + head, :data:`ARCHS`
* :mod:`dcl.methods` - how blocks learn, :data:`METHODS`
* :mod:`dcl.data` - ``load_dataset``, :data:`DATASETS`, ``BatchLoader``; your own data:
  ``train(cfg, train_data=..., test_data=...)`` (:mod:`dcl.data.user`)
* :func:`load` - a trained run as a :class:`~dcl.predictor.Model` with ``.predict(images)``
* :class:`Callback` - hooks on every step / epoch (:mod:`dcl.callbacks`)

Importing ``dcl`` is light (no torch): the names that need torch are loaded on first use
(module ``__getattr__``), so the command line starts fast (``dcl --help``, ``dcl list``).
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from .config import PRESETS, TrainConfig, resolve_config
from .errors import DCLError

__version__ = "0.1.0"

#: public name -> the submodule that defines it (imported on first access)
_LAZY = {
    "DATASETS": "data", "load_dataset": "data",
    "DictionaryContrastiveLoss": "losses", "dict_logits": "losses", "dict_loss": "losses",
    "METHODS": "methods", "ARCHS": "models",
    "build_run": "train", "train": "train",
    "Callback": "callbacks", "load": "predictor",
}

__all__ = [
    "ARCHS", "DATASETS", "METHODS", "PRESETS", "Callback", "DCLError", "DictionaryContrastiveLoss", "TrainConfig",
    "build_run", "dict_logits", "dict_loss", "load", "load_dataset", "resolve_config", "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dcl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The ``dcl`` package object. Importing the submodule ``dcl.train`` binds it to the package
    attribute ``train``; this keeps ``dcl.train`` the function (as an eager
    ``from .train import train`` did), whatever is imported first."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "train" and isinstance(value, types.ModuleType) and hasattr(value, "train"):
            value = value.train
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
