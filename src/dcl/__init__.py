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
"""
from .config import PRESETS, TrainConfig, resolve_config
from .data import DATASETS, load_dataset
from .errors import DCLError
from .losses import DictionaryContrastiveLoss, dict_logits, dict_loss
from .methods import METHODS
from .models import ARCHS
from .train import build_run, train
from .callbacks import Callback
from .predictor import load

__version__ = "0.1.0"

__all__ = [
    "ARCHS", "DATASETS", "METHODS", "PRESETS", "Callback", "DCLError", "DictionaryContrastiveLoss", "TrainConfig",
    "build_run", "dict_logits", "dict_loss", "load", "load_dataset", "resolve_config", "train",
]
