"""The typed run configuration: :class:`TrainConfig`.

Every hyperparameter a run reads lives in one :class:`TrainConfig`: the shared fields below
(what to train, the optimiser and schedule, data, run, logging, parallel, memory savers), and
in ``cfg.options`` the fields its method and its network declare in their own files
(:mod:`dcl.config.options`; e.g. DCL's ``dict_dim``, fc's ``width``, FF's ``ff_threshold``),
read as attributes (``cfg.width``). Defaults < preset < explicit overrides
(:func:`dcl.config.resolve_config`).

A TrainConfig checks itself when made: the types of the annotations (``lr="abc"`` is a
DCLError; lists become tuples), every field's range (:mod:`dcl.config.rules`), and each
option against the declaration of its owner (:mod:`dcl.config.catalog` finds it without
importing torch). The options a run's method and network declare are filled with their
defaults; an option another component declares is kept only when it differs from its default
(so that :func:`dcl.config.check_fields_used` can refuse it in one line: it would change
nothing).
"""
from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from ..checks import describe_value
from ..errors import DCLError
from ..plugins import load_plugins
from .field_rules import check_values
from .rules import show_value
from .values import coerce_value, exact_value, type_name


@dataclass(init=False)
class TrainConfig:
    # --- what to train ------------------------------------------------------------------
    arch: str = "fc"                   # registry name of the network (dcl list)
    data: str = "mnist"                # registry name of the dataset
    method: str = "dcl"                # how blocks learn: bp | dcl | dcl-s | ...
    preset: str | None = None          # the preset these values came from (informational)
    plugins: tuple[str, ...] = ()      # .py files or modules imported first: methods, networks of your own (--plugin)
    # --- optimisation (paper App. J: AdamW, betas 0.9/0.999, weight decay 0.01) ---------
    epochs: int = 150
    batch_size: int = 512
    lr: float = 5e-4
    optimizer: str = "adamw"           # adamw | adam (N&E's LL recipes) | sgd
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9              # sgd only
    nesterov: bool = True              # sgd only
    schedule: str = "multistep"        # multistep | cosine | constant; stepped once per epoch
    milestones: tuple[int, ...] = (50, 100, 125)
    gamma: float = 0.5                 # MultiStepLR decay (FC/Conv 0.5, VGG8B 0.25)
    # --- network (a network's own fields, e.g. fc's width, are its options) ------------
    dropout: float = 0.0
    # --- data ---------------------------------------------------------------------------
    augment: bool = True               # the paper's train augmentation for this dataset
    val_split: int = 0                 # hold out this many training samples for validation
    limit_train_batches: int | None = None  # cap an epoch (quick runs)
    limit_test_batches: int | None = None   # cap each evaluation (test, validation) at N batches (quick runs)
    eval_batch_size: int = 1000
    # --- run ----------------------------------------------------------------------------
    seed: int = 0
    device: str = "auto"               # auto (CUDA, else MPS, else CPU) | cpu | cuda | cuda:N | mps
    channels_last: bool = False
    compile: bool = False
    amp: bool = False                  # bf16 autocast (CUDA only; elsewhere a one-line note, float32)
    # --- logging and checkpoints (dcl.engine.callbacks; docs/experiments.md) -------------------
    log_every: int = 10                # training steps between per-step log rows (TensorBoard, steps.csv)
    tensorboard: bool = True           # TensorBoard event files in OUT/tensorboard (needs the tensorboard package)
    checkpoint_every: int | None = None  # also write checkpoint.pt every N training steps (None: epoch ends only)
    # --- training past one device (dcl.parallel; docs/parallel.md; run under torchrun) ---
    stages: int = 1                    # pipeline stages: ranks per replica, each training its own blocks
    stage_split: tuple[int, ...] | None = None  # blocks per stage, e.g. 3,2,2; None: balanced by measured cost
    max_in_flight: int = 2             # batches a stage may send ahead of the next stage
    dist_timeout: float = 300.0        # seconds a rank waits for another before the run stops with an error
    grad_overlap: bool = True          # data-parallel: start each gradient's all-reduce during backward
    sync_bn: bool = False              # data-parallel: BatchNorm statistics over all replicas (CUDA only)
    # --- memory savers (docs/benchmarks.md) ---------------------------------------------
    lean_layers: bool = True           # exact lean layers (1-byte dropout masks, 2-bit max-pool positions,
                                       # fused BN-activation, fused LayerNorm-Linear for local blocks); false: torch's
    micro_batches: int | None = None   # M: each batch in M micro-batches, gradients summed, one update (bp-accum,
                                       # bp-ckpt, dcl*); None: the method's default (bp-accum 4, the others 1)
    # --- the method's and the network's own fields (declared in their files) -------------
    options: dict[str, Any] = field(default_factory=dict)  # read as attributes: cfg.ff_threshold

    def __init__(self, **values: Any) -> None:
        """``TrainConfig(lr=1e-3, method="ff", ff_threshold=3.0)``: shared fields by name; any
        other name is an option of the method or network (checked against its declaration)."""
        options = dict(values.pop("options", None) or {})
        for f in fields(self):
            if f.name == "options":
                continue
            if f.name in values:
                value = values.pop(f.name)
            else:
                value = f.default_factory() if f.default is dataclasses.MISSING else f.default
            object.__setattr__(self, f.name, value)
        options.update(values)  # the rest: options (an unknown name is refused when checked)
        object.__setattr__(self, "options", options)
        self.check()

    def check(self) -> None:
        """Check every field (types, ranges, options against their declarations; plugins
        imported first) and fill in the declared options' defaults. A TrainConfig checks itself
        when made; call this again after reassigning an attribute."""
        check_types(self)
        object.__setattr__(self, "plugins", load_plugins(self.plugins))
        check_values(self)
        object.__setattr__(self, "options", complete_options(self))

    def __getattr__(self, name: str) -> Any:
        """A declared option of the run's method or network: ``cfg.ff_threshold``."""
        options = self.__dict__.get("options")
        if options is not None and name in options:
            return options[name]
        if name.startswith("__") or options is None:
            raise AttributeError(name)
        raise AttributeError(f"{name!r} is not a field of this run's config (method {self.__dict__.get('method')}, "
                             f"arch {self.__dict__.get('arch')}); its own fields: {', '.join(options) or 'none'}")

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` (shared fields or options) applied and checked."""
        core = {k: v for k, v in changes.items() if k in CORE_FIELDS and k != "options"}
        options = {**self.options, **{k: v for k, v in changes.items() if k not in CORE_FIELDS}}
        if "options" in changes:
            options = {**options, **changes["options"]}
        return dataclasses.replace(self, **core, options=options)

    def to_dict(self) -> dict[str, Any]:
        """Every field flat: the shared ones, then the options (the form of ``config.toml``)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "options"}
        return {**out, **self.options}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """The config of a flat dict (``to_dict``, a checkpoint's or an older run's config). Names
        no component knows (fields of an older version) are left out."""
        return coerce_overrides(cls(), {k: v for k, v in d.items() if k != "options"}, drop_unknown=True)


#: the names of the shared fields
CORE_FIELDS: frozenset[str] = frozenset(f.name for f in fields(TrainConfig))


@functools.cache
def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig) if f.name != "options"}


def check_types(cfg: TrainConfig) -> None:
    """Check (and normalise in place) each shared field's type against its annotation."""
    for name, tp in _field_types().items():
        ok, value = exact_value(getattr(cfg, name), tp)
        if not ok:
            raise DCLError(f"{name} must be {type_name(tp)}, got {describe_value(getattr(cfg, name))}")
        object.__setattr__(cfg, name, value)
    if not isinstance(cfg.options, dict):
        raise DCLError(f"options must be a dict of the method's and network's own fields, got "
                       f"{describe_value(cfg.options)}")


def complete_options(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg.options`` checked against the declarations, with the defaults of every option the
    run's method and network declare; an option of another component is kept only when it
    differs from its default. An unknown name is a one-line DCLError naming the valid ones."""
    from .catalog import all_options, declared_options

    declared = declared_options(cfg.method, cfg.arch)
    known = all_options()
    out = {}
    for name, value in cfg.options.items():
        option = declared.get(name) or known.get(name)
        if option is None:
            valid = sorted(CORE_FIELDS - {"options"}) + sorted(declared)
            raise DCLError(f"unknown config field {name!r}; valid fields: {', '.join(valid)}")
        value = option.check(value)
        if name in declared or value != option.default:
            out[name] = value
    for name, option in declared.items():
        out.setdefault(name, option.default)
    for name, option in declared.items():
        for other in option.excludes:
            if out.get(name) is not None and out.get(other) is not None:
                raise DCLError(f"give {name} ({show_value(out[name])}) or {other} ({show_value(out[other])}), not both")
    return out


def coerce_overrides(cfg: TrainConfig, overrides: dict[str, Any], drop_unknown: bool = False) -> TrainConfig:
    """Apply ``overrides`` (values may be strings, as from ``--set``) to ``cfg`` with type
    checking: shared fields by their annotation, options by their declaration. Plugins named in
    ``overrides`` are imported first (their options must be known). An unknown name is a
    DCLError, or left out with ``drop_unknown`` (an older version's field)."""
    from .catalog import all_options

    if overrides.get("plugins"):  # their methods' options must be known before the rest is read
        load_plugins(coerce_value("plugins", overrides["plugins"], tuple[str, ...]))
    types, known = _field_types(), all_options()
    core, options = {}, {}
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key in types:
            core[key] = coerce_value(key, value, types[key])
        elif key in known:
            options[key] = coerce_value(key, value, known[key].type)
        elif not drop_unknown:
            raise DCLError(f"unknown config field {key!r}; valid fields: {', '.join(list(types) + sorted(known))}")
    return dataclasses.replace(cfg, **core, options={**cfg.options, **options})
