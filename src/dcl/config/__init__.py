"""Run configuration: the typed :class:`TrainConfig`, its rules, the paper's presets, config
files, and the registries' names read without torch.

* :mod:`.train_config` - :class:`TrainConfig`, :func:`resolve_config`, :data:`PRESETS`
* :mod:`.rules`        - what every field may hold
* :mod:`.values`       - field values by type (``--set FIELD=VALUE`` parsing)
* :mod:`.files`        - TOML config files
* :mod:`.catalog`      - names and descriptions of the registries without importing torch
"""
from .train_config import (PRESETS, TrainConfig, check_fields_used, coerce_overrides, find_preset, merge_options,
                           parse_set_options, resolve_config, validate_config)

__all__ = ["PRESETS", "TrainConfig", "check_fields_used", "coerce_overrides", "find_preset", "merge_options",
           "parse_set_options", "resolve_config", "validate_config"]
