"""Resolving a run's configuration: defaults < preset < explicit overrides, and the checks
that the names exist and that no field set on purpose goes unread.

When a run names no preset, the method's own recipe ``"{method}-{arch}-{data}"`` is used if
it exists (a baseline's), else ``"{arch}-{data}"`` (DCL's and BP's). Presets come from
:mod:`dcl.config.catalog`, so resolving imports no torch.
"""
from __future__ import annotations

import warnings
from typing import Any

from ..errors import DCLError, DCLNote
from ..plugins import load_plugins
from .catalog import all_options, check_name, declared_options, own_arch, preset_names, preset_values, readers
from .field_rules import IGNORED_FIELDS
from .rules import show_value
from .train_config import CORE_FIELDS, TrainConfig, coerce_overrides
from .values import coerce_value


def preset_candidates(arch: str, data: str, method: str) -> list[str]:
    """The preset names a run looks for, most specific first: the method's own recipe for the
    (network, dataset) pair (``"{method}-{arch}-{data}"``, e.g. ``ll-pred-vgg8b-cifar10``),
    then the pair's recipe (``"{arch}-{data}"``, DCL's and BP's)."""
    return [f"{method}-{arch}-{data}", f"{arch}-{data}"]


def find_preset(arch: str, data: str, method: str) -> str | None:
    """The first of :func:`preset_candidates` that exists, or None."""
    return next((n for n in preset_candidates(arch, data, method) if n in preset_names()), None)


RECIPE_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "milestones", "gamma", "dropout")


def fallback_note(arch: str, data: str, method: str, overrides: dict[str, Any] | None = None) -> str:
    """One line: the defaults (the RECIPE_FIELDS the user did not set) a run without preset uses."""
    cfg, overrides = TrainConfig(), overrides or {}
    values = ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                       for k in RECIPE_FIELDS if k not in overrides for v in [getattr(cfg, k)])
    return (f"no preset for {' or '.join(preset_candidates(arch, data, method))}: using the defaults "
            f"(the FC-MNIST recipe) {values}; name one with --preset or set values with --set")


def resolve_config(arch: str | None = None, data: str | None = None, preset: str | None = None,
                   **overrides: Any) -> TrainConfig:
    """Build the run config: defaults < preset < overrides.

    The preset is ``preset`` if named, else the method's recipe for the pair
    (``"{method}-{arch}-{data}"``) if there is one, else the pair's (``"{arch}-{data}"``).
    Without ``arch`` (and without a preset naming one), a method made for a network of its
    own (its ``own_arch``: CaFo's ``cafo``, DRTP's ``drtp-fc``, PFF's ``pff``) trains on that one.
    ``None`` values in ``overrides`` are ignored (flags the user did not give).
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides.get("plugins"):  # a plugin's method, network and presets are known from here on
        overrides["plugins"] = load_plugins(coerce_value("plugins", overrides["plugins"], tuple[str, ...]))
    cfg = TrainConfig()
    values: dict[str, Any] = {}
    note = None
    method = str(overrides.get("method", cfg.method))
    if preset is not None:
        values = preset_values(str(preset))
        method = str(overrides.get("method", values.get("method", method)))
    else:
        arch = arch if arch is not None else own_arch(method)
        preset = find_preset(str(arch or cfg.arch), str(data or cfg.data), method)
        if preset is not None:
            values = preset_values(preset)
        else:  # said in one line below, once the names are known to be valid
            note = fallback_note(arch or cfg.arch, data or cfg.data, method, overrides)
    if arch is None and "arch" not in values:  # a named preset without a network
        arch = own_arch(method)
    if arch is not None:
        values["arch"] = arch
    if data is not None:
        values["data"] = data
    values["preset"] = preset
    # a recipe's options for another method or network (vgg8b's dict_dim under bp) are not this run's
    declared = declared_options(method, str(values.get("arch", cfg.arch)))
    values = {k: v for k, v in values.items() if k in CORE_FIELDS or k in declared}
    cfg = coerce_overrides(cfg, values)
    cfg = coerce_overrides(cfg, overrides)
    check_names(cfg)
    if note is not None:  # the defaults were meant for FC on MNIST
        warnings.warn(note, DCLNote, stacklevel=2)
    return cfg


def check_names(cfg: TrainConfig) -> None:
    """Raise DCLError if the architecture, dataset or method is not registered (read from
    :mod:`dcl.config.catalog`, which imports no torch unless the registries are loaded already)."""
    check_name("archs", cfg.arch)
    check_name("datasets", cfg.data)
    check_name("methods", cfg.method)


def validate_config(cfg: TrainConfig) -> None:
    """Check every field of ``cfg`` again (:meth:`TrainConfig.check`): a TrainConfig checks
    itself when made, but its attributes can be reassigned since."""
    cfg.check()


def explicit_fields(cfg: TrainConfig) -> set[str]:
    """The fields and options of ``cfg`` that differ from the defaults with its preset
    applied: the ones someone set on purpose."""
    ref = TrainConfig(arch=cfg.arch, method=cfg.method, data=cfg.data)
    if cfg.preset is not None and cfg.preset in preset_names():
        ref = coerce_overrides(ref, preset_values(cfg.preset))
    mine, theirs = cfg.to_dict(), ref.to_dict()
    out = set()
    for name, value in mine.items():
        if name in theirs:
            if value != theirs[name]:
                out.add(name)
        elif name in all_options() and value != all_options()[name].default:
            out.add(name)
    return out


def check_fields_used(cfg: TrainConfig, custom_net: bool = False) -> None:
    """Refuse, in one line, a field set on purpose that this run never reads: an option its
    method and network do not declare, or a shared field its optimizer or schedule ignores.
    ``custom_net``: the network is the user's, so network options are not ruled out."""
    explicit = explicit_fields(cfg)
    declared = declared_options(cfg.method, cfg.arch)
    for name in sorted(explicit):
        if name in CORE_FIELDS or name in declared:
            continue
        kinds = readers(name)
        if custom_net and "arch" in kinds:
            continue
        who = " and ".join(f"{kind} {', '.join(names)}" for kind, names in kinds.items())
        runs = " and ".join(f"{kind} {getattr(cfg, kind)}" for kind in kinds)
        raise DCLError(f"{name}={show_value(getattr(cfg, name))} has no effect with {runs} (only {who} read "
                       f"it); leave it out")
    for (key, value), ignored in IGNORED_FIELDS.items():
        if getattr(cfg, key) != value:
            continue
        for name in ignored:
            if name in explicit:
                raise DCLError(f"{name}={show_value(getattr(cfg, name))} has no effect with {key} {value} (it does "
                               f"not read {name}); leave it out")
