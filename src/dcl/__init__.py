"""dcl: Dictionary Contrastive Learning (Choi et al., ICLR 2024) and local supervision.

The public API:

* :func:`resolve_config`, :class:`TrainConfig`, :data:`PRESETS` - run configuration
* :func:`train`, :func:`build_run` - the training engine
* :mod:`dcl.losses` - ``dict_logits``, ``dict_loss``, ``DictionaryContrastiveLoss`` (Eq. 2)
* :mod:`dcl.models` - networks as blocks + head, :data:`ARCHS`
* :mod:`dcl.methods` - how blocks learn, :data:`METHODS`
* :mod:`dcl.data` - ``load_dataset``, :data:`DATASETS`, ``BatchLoader``; your own data:
  ``train(cfg, data=(x, y, x_test, y_test))`` or ``train(cfg, train_data=..., test_data=...)``
  (:mod:`dcl.data.user`)
* :func:`load` - a trained run as a :class:`~dcl.predictor.Model` with ``.predict(images)``
* :class:`Callback` - hooks on every step / epoch (:mod:`dcl.engine.callbacks`)

Importing ``dcl`` is light (no torch): the names that need torch are loaded on first use
(module ``__getattr__``), so the command line starts fast (``dcl --help``, ``dcl list``).
"""
from __future__ import annotations

from .config import PRESETS, TrainConfig, resolve_config
from .errors import DCLError
from .lazy import lazy_exports

__version__ = "0.1.0"

#: public name -> the submodule that defines it (imported on first access)
_LAZY = {
    "DATASETS": "data", "load_dataset": "data",
    "DictionaryContrastiveLoss": "losses", "dict_logits": "losses", "dict_loss": "losses",
    "METHODS": "methods", "ARCHS": "models",
    "build_run": "engine", "train": "engine",
    "Callback": "engine", "load": "predictor",
}

__all__ = [
    "ARCHS", "DATASETS", "METHODS", "PRESETS", "Callback", "DCLError", "DictionaryContrastiveLoss", "TrainConfig",
    "build_run", "dict_logits", "dict_loss", "load", "load_dataset", "resolve_config", "train",
]


__getattr__, __dir__ = lazy_exports(__name__, {name: f".{module}" for name, module in _LAZY.items()})
