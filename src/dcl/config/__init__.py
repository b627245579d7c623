"""Run configuration: the typed :class:`TrainConfig`, the options methods and networks
declare, the rules, the presets, config files, and the registries read without torch.

* :mod:`.train_config` - :class:`TrainConfig` (shared fields; ``cfg.options``)
* :mod:`.options`      - :class:`Option`: a method's or network's own hyperparameter
* :mod:`.rules`        - the kinds of rule a field may have (``integer``, ``real``, ``choice``, ...)
* :mod:`.field_rules`  - the shared fields' rules; the shared fields an optimizer or schedule ignores
* :mod:`.values`       - field values by type (``--set FIELD=VALUE`` parsing)
* :mod:`.presets`      - :data:`PRESETS`, the paper's recipes; :func:`register_preset`
* :mod:`.resolve`      - :func:`resolve_config`: defaults < preset < overrides; field checks
* :mod:`.files`        - TOML config files
* :mod:`.catalog`      - names, options and presets of the registries without importing torch
"""
from .options import Option
from .presets import PRESETS, register_preset
from .resolve import check_fields_used, find_preset, resolve_config, validate_config
from .train_config import TrainConfig, coerce_overrides
from .values import merge_options, parse_set_options

__all__ = ["PRESETS", "Option", "TrainConfig", "check_fields_used", "coerce_overrides", "find_preset",
           "merge_options", "parse_set_options", "register_preset", "resolve_config", "validate_config"]
