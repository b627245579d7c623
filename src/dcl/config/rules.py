"""What every :class:`~dcl.config.TrainConfig` field may hold: one table of rules.

:data:`RULES` gives each field its range (numbers are also checked to be finite), its
choices or its shape; :func:`check_values` applies them and the few rules that tie fields
together (SGD's Nesterov momentum needs a momentum). A TrainConfig runs these checks
whenever it is made (``TrainConfig(...)``, ``replace``, ``resolve_config``, a checkpoint's
config), so a config that exists is a valid one; the first bad field raises a one-line
:class:`~dcl.errors.DCLError` naming the field, the bad value and what is valid.

:data:`IGNORED_FIELDS` says which networks, methods, optimizers and schedules never read
which fields; :func:`check_field_use` refuses such a field when it was set explicitly (it
would change nothing). Networks and methods not listed there are never refused anything.

A new config field needs a rule here (``tests/test_bad_inputs.py`` checks that every field
has one).
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from ..errors import DCLError

Rule = Callable[[str, Any], None]

#: upper bounds that no real run comes near: they catch typos and overflows before torch does
BIG = 1 << 24       # sizes, counts and epochs
MAX_SEED = (1 << 32) - 1


def _show(value: Any) -> str:
    """A value as a user writes it: lists comma-separated (``-5,2``), the rest as repr."""
    if isinstance(value, tuple):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in value) if value else "(empty)"
    return repr(value)


def _fail(name: str, valid: str, value: Any) -> None:
    raise DCLError(f"{name} must be {valid}, got {_show(value)}")


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    left = "-inf" if lo is None else _num(lo)
    right = "inf" if hi is None else _num(hi)
    return f"{'(' if lo_open or lo is None else '['}{left}, {right}{')' if hi_open or hi is None else ']'}"


def _within(v: float, lo, hi, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (v < lo or (lo_open and v == lo)):
        return False
    return not (hi is not None and (v > hi or (hi_open and v == hi)))


def integer(lo: int | None = 0, hi: int | None = BIG) -> Rule:
    def rule(name: str, v: Any) -> None:
        if not _within(v, lo, hi, False, False):
            _fail(name, f"an integer in {_interval(lo, hi, False, False)}", v)
    return rule


def real(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> Rule:
    """A finite float in the interval (nan and +-inf are always refused)."""
    def rule(name: str, v: Any) -> None:
        if not (math.isfinite(v) and _within(v, lo, hi, lo_open, hi_open)):
            _fail(name, f"a finite number in {_interval(lo, hi, lo_open, hi_open)}", v)
    return rule


def choice(*valid: str) -> Rule:
    def rule(name: str, v: Any) -> None:
        if v not in valid:
            raise DCLError(f"unknown {name} {v!r}; valid choices: {', '.join(valid)}")
    return rule


def text(what: str = "a non-empty string") -> Rule:
    def rule(name: str, v: Any) -> None:
        if not v.strip():
            _fail(name, what, v)
    return rule


def pattern(regex: str, valid: str) -> Rule:
    compiled = re.compile(regex)

    def rule(name: str, v: Any) -> None:
        if not compiled.fullmatch(v):
            raise DCLError(f"unknown {name} {v!r}; valid choices: {valid}")
    return rule


def flag(name: str, v: Any) -> None:
    """Booleans: the type check (config.py) is the whole rule."""


def optional(inner: Rule) -> Rule:
    def rule(name: str, v: Any) -> None:
        if v is not None:
            inner(name, v)
    return rule


def integers(lo: int = 1, hi: int = BIG, *, increasing: bool = False, nonempty: bool = False) -> Rule:
    def rule(name: str, v: tuple) -> None:
        what = (f"{'a non-empty' if nonempty else 'a'} list of integers in [{lo}, {hi}]"
                + (", strictly increasing" if increasing else ""))
        if (nonempty and not v) or any(not lo <= x <= hi for x in v) or \
                (increasing and any(b <= a for a, b in zip(v, v[1:]))):
            _fail(name, what, v)
    return rule


def reals(count: int, lo: float, hi: float, hi_open: bool = False) -> Rule:
    def rule(name: str, v: tuple) -> None:
        if len(v) != count or not all(math.isfinite(x) and _within(x, lo, hi, False, hi_open) for x in v):
            _fail(name, f"{count} finite numbers in {_interval(lo, hi, False, hi_open)}, comma-separated", v)
    return rule


#: hidden activations a network can be built with (``activation``; models/layers.py)
ACTIVATIONS = ("relu", "leaky_relu", "tanh")
#: how conv blocks drop units (``dropout_kind``)
DROPOUT_KINDS = ("channel", "element")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("multistep", "cosine", "constant")
DEVICE_PATTERN = r"auto|cpu|cuda(:\d{1,3})?|mps"

#: every TrainConfig field -> its rule (types are checked before, from the field annotations)
RULES: dict[str, Rule] = {
    # what to train (the names are checked against the registries when a run is built)
    "arch": text(), "data": text(), "method": text(), "preset": optional(text()),
    # optimisation
    "epochs": integer(1, BIG),
    "batch_size": integer(1, BIG),
    "lr": real(0, 100, lo_open=True),
    "optimizer": choice(*OPTIMIZERS),
    "weight_decay": real(0, 100),
    "betas": reals(2, 0, 1, hi_open=True),
    "momentum": real(0, 1, hi_open=True),
    "nesterov": flag,
    "schedule": choice(*SCHEDULES),
    "milestones": integers(1, BIG, increasing=True),
    "gamma": real(0, 1, lo_open=True),
    # network
    "width": integer(1, BIG),
    "channels": integers(1, BIG, nonempty=True),
    "dropout": real(0, 1, hi_open=True),
    "dropout_kind": choice(*DROPOUT_KINDS),
    "activation": choice(*ACTIVATIONS),
    "head_relu": flag,
    # dictionary loss
    "segments": integer(1, BIG),
    "dict_dim": optional(integer(1, BIG)),
    "similarity": choice("dot", "cosine"),
    "temperature": optional(real(0, None, lo_open=True)),
    "dict_init": choice("normal", "orthogonal"),
    "dict_norm": optional(real(0, None, lo_open=True)),
    "dict_norm_from": optional(text("a checkpoint file or run folder")),
    "adapter": choice("pool", "project"),
    "dict_update": choice("sequential", "accumulate"),
    # local-learning baselines (feat, ll-*)
    "aux_dim": optional(integer(1, BIG)),
    "proj_dim": integer(1, BIG),
    "contrast_temperature": real(0, None, lo_open=True),
    "supcon_average": choice("anchor", "pairs"),
    "ll_beta": optional(real(0, 1)),
    "contrec_alpha": real(0, None, lo_open=True),
    "zero_head": flag,
    # forward-learning baselines (ff, symba, pff, cafo, drtp)
    "ff_goodness": choice("mean", "sum"),
    "ff_threshold": optional(real(0, None, lo_open=True)),
    "ff_norm": choice("rms", "none"),
    "ff_negatives": choice("random", "hard"),
    "ff_score_layers": choice("all", "skip-first"),
    "symba_alpha": real(0, None, lo_open=True),
    "pff_steps": integer(1, BIG),
    "pff_eval_steps": integer(2, BIG),
    "pff_leak": real(0, 1, hi_open=True),
    "pff_threshold": real(),
    "pff_label_scale": real(0, None),
    "pff_noise": real(0, None),
    "pff_group": integer(1, BIG),
    "pff_clip": real(0, None, lo_open=True),
    "pff_generative": flag,
    "pff_latent": integer(1, BIG),
    "pff_latent_lr": real(0, None),
    "pff_gen_noise": real(0, None),
    "cafo_solver": choice("ce", "mse"),
    "cafo_steps": integer(0, BIG),
    "cafo_bn_stats": choice("train", "batch"),
    "drtp_activation": choice(*ACTIVATIONS),
    "drtp_loss": choice("bce", "ce"),
    "drtp_freeze_conv": flag,
    "class_limited_epochs": integer(0, BIG),
    "class_limited_seeds": integer(1, BIG),
    # data
    "augment": flag,
    "val_split": integer(0, BIG),
    "limit_train_batches": optional(integer(1, BIG)),
    "eval_batch_size": integer(1, BIG),
    # run
    "seed": integer(0, MAX_SEED),
    "device": pattern(DEVICE_PATTERN, "auto, cpu, cuda, cuda:N, mps"),
    "channels_last": flag,
    "compile": flag,
    "amp": flag,
    # logging and checkpoints
    "log_every": integer(1, BIG),
    "tensorboard": flag,
    "checkpoint_every": optional(integer(1, BIG)),
    # training past one device (dcl.parallel)
    "stages": integer(1, 1024),
    "stage_split": optional(integers(1, BIG, nonempty=True)),
    "max_in_flight": integer(1, 1024),
    "dist_timeout": real(0, None, lo_open=True),
    "grad_overlap": flag,
    "sync_bn": flag,
    # memory savers
    "lean_layers": flag,
    "micro_batches": optional(integer(1, BIG)),
}


def check_values(cfg: Any) -> None:
    """Apply :data:`RULES` to every field of ``cfg``, then the rules across fields."""
    for name, value in vars(cfg).items():
        rule = RULES.get(name)
        if rule is not None:
            rule(name, value)
    if cfg.optimizer == "sgd" and cfg.nesterov and cfg.momentum == 0:
        raise DCLError("momentum must be > 0 for SGD with Nesterov momentum, got 0; "
                       "set a momentum in (0, 1) or nesterov=false")
    if cfg.dict_norm is not None and cfg.dict_norm_from is not None:
        raise DCLError(f"give dict_norm ({cfg.dict_norm:g}) or dict_norm_from ({cfg.dict_norm_from!r}), not both")


# ---------------------------------------------------------------------------------------
# Fields that a component never reads
# ---------------------------------------------------------------------------------------
DICTIONARY_FIELDS = ("dict_dim", "similarity", "temperature", "dict_init", "dict_norm", "dict_norm_from",
                     "adapter", "dict_update")
_FC_ONLY = ("width", "segments", "head_relu")
_NOT_LAYERED = _FC_ONLY + ("channels", "activation", "dropout_kind")  # the larger networks

#: (field, value) -> the fields that a run with that value never reads
IGNORED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("method", "bp"): DICTIONARY_FIELDS,
    ("method", "bp-accum"): DICTIONARY_FIELDS,
    ("method", "bp-ckpt"): DICTIONARY_FIELDS,
    ("method", "dcl-ld"): ("dict_dim",),             # each dictionary has its block's width
    **{("method", m): DICTIONARY_FIELDS for m in ("feat", "ll-cont", "ll-contrec", "ll-pred", "ll-sim", "ll-predsim",
                                                  "ll-bpf", "ff", "symba", "pff", "cafo", "drtp")},
    ("optimizer", "adamw"): ("momentum", "nesterov"),
    ("optimizer", "adam"): ("momentum", "nesterov"),
    ("optimizer", "sgd"): ("betas",),
    ("schedule", "cosine"): ("milestones", "gamma"),
    ("schedule", "constant"): ("milestones", "gamma"),
    ("arch", "fc"): ("channels", "dropout_kind"),
    ("arch", "conv"): _FC_ONLY,
    ("arch", "vgg8b"): _FC_ONLY + ("channels",),
    ("arch", "resnet32"): _NOT_LAYERED,
    ("arch", "resnet32-w"): _NOT_LAYERED,
    ("arch", "vit"): _NOT_LAYERED,
    ("arch", "mlp-mixer"): _NOT_LAYERED,
}


#: the baselines' own fields -> the methods (or networks) that read them; any other built-in
#: method or network never does. A method or network not in BUILT_IN is the user's: it may.
_SUPCON = ("feat", "ll-cont", "ll-contrec")
FIELD_READERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "contrast_temperature": ("method", _SUPCON), "supcon_average": ("method", _SUPCON),
    "aux_dim": ("method", ("ll-cont", "ll-contrec", "ll-pred", "ll-predsim", "ll-bpf")),
    "proj_dim": ("method", ("ll-cont", "ll-contrec", "ll-bpf")),
    "contrec_alpha": ("method", ("ll-contrec",)),
    "ll_beta": ("method", ("ll-predsim", "ll-bpf")),
    "zero_head": ("method", ("ll-pred", "ll-sim", "ll-predsim", "ll-bpf")),
    **{f: ("method", ("ff", "symba")) for f in ("ff_goodness", "ff_threshold", "ff_norm", "ff_negatives",
                                                "ff_score_layers")},
    "symba_alpha": ("method", ("symba",)),
    **{f: ("method", ("pff",)) for f in ("pff_steps", "pff_eval_steps", "pff_leak", "pff_threshold",
                                         "pff_label_scale", "pff_noise", "pff_clip", "pff_latent_lr",
                                         "pff_gen_noise")},
    **{f: ("arch", ("pff",)) for f in ("pff_generative", "pff_group", "pff_latent")},
    **{f: ("method", ("cafo",)) for f in ("cafo_solver", "cafo_steps", "cafo_bn_stats")},
    "drtp_loss": ("method", ("drtp",)),
    "drtp_activation": ("arch", ("drtp-fc", "drtp-conv")),
    "drtp_freeze_conv": ("arch", ("drtp-conv",)),
}
BUILT_IN = {
    "method": ("bp", "bp-ckpt", "bp-accum", "dcl", "dcl-s", "dcl-o", "dcl-ld", "feat", "ll-cont", "ll-contrec", "ll-pred", "ll-sim",
               "ll-predsim", "ll-bpf", "ff", "symba", "pff", "cafo", "drtp"),
    "arch": ("fc", "conv", "vgg8b", "resnet32", "resnet32-w", "vit", "mlp-mixer", "pff", "cafo", "drtp-fc",
             "drtp-conv"),
}


def check_field_use(cfg: Any, explicit: set[str], custom_net: bool = False) -> None:
    """Refuse a field in ``explicit`` (the fields set on purpose) that this run's network,
    method, optimizer or schedule never reads. ``custom_net``: the network is the user's, so
    ``arch`` rules nothing out."""
    for (key, value), ignored in IGNORED_FIELDS.items():
        if getattr(cfg, key) != value or (key == "arch" and custom_net):
            continue
        for name in ignored:
            if name in explicit:
                raise DCLError(f"{name}={_show(getattr(cfg, name))} has no effect with {key} {value} (it does not read {name}); "
                               f"leave it out")
    for name in sorted(explicit & FIELD_READERS.keys()):
        key, readers = FIELD_READERS[name]
        value = getattr(cfg, key)
        if value in readers or value not in BUILT_IN[key] or (key == "arch" and custom_net):
            continue
        raise DCLError(f"{name}={_show(getattr(cfg, name))} has no effect with {key} {value} (only {key} "
                       f"{', '.join(readers)} read it); leave it out")
