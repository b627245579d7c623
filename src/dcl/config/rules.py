"""What every :class:`~dcl.config.TrainConfig` field may hold: one table of rules.

:data:`RULES` gives each field its range (numbers are also checked to be finite), its
choices or its shape; :func:`check_values` applies them and the few rules that tie fields
together (SGD's Nesterov momentum needs a momentum). A TrainConfig runs these checks
whenever it is made (``TrainConfig(...)``, ``replace``, ``resolve_config``, a checkpoint's
config), so a config that exists is a valid one; the first bad field raises a one-line
:class:`~dcl.errors.DCLError` naming the field, the bad value and what is valid.

The rules are small frozen dataclasses (:class:`Integer`, :class:`Real`, :class:`Choice`,
...), so the options a method or network declares with them (:mod:`dcl.config.options`) can
be cached as data and checked without importing the method.

:data:`IGNORED_FIELDS` says which shared fields an optimizer or schedule never reads; a field
set on purpose that the run never reads is refused (:func:`dcl.config.check_fields_used`).

A new shared field needs a rule here (``tests/test_bad_inputs.py`` checks that every field
has one); a method's or network's own field is an Option in its file.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

from ..errors import DCLError

#: upper bounds that no real run comes near: they catch typos and overflows before torch does
BIG = 1 << 24       # sizes, counts and epochs
MAX_SEED = (1 << 32) - 1


def show_value(value: Any) -> str:
    """A value as a user writes it: lists comma-separated (``-5,2``), the rest as repr."""
    if isinstance(value, tuple):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in value) if value else "(empty)"
    return repr(value)


def _fail(name: str, valid: str, value: Any) -> None:
    raise DCLError(f"{name} must be {valid}, got {show_value(value)}")


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


class Rule:
    """What a field may hold. A rule is a small frozen dataclass, so a method's or network's
    declared fields can be cached as data (:mod:`dcl.config.catalog`) and rebuilt without
    importing the method: ``rule_from_spec(rule.spec()) == rule``. ``rule(name, value)`` raises
    a one-line :class:`DCLError` when ``value`` is not allowed."""

    def __call__(self, name: str, v: Any) -> None:
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": type(self).__name__}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = v.spec() if isinstance(v, Rule) else (list(v) if isinstance(v, tuple) else v)
        return out


@dataclass(frozen=True)
class Integer(Rule):
    lo: int | None = 0
    hi: int | None = BIG

    def __call__(self, name: str, v: Any) -> None:
        if not _within(v, self.lo, self.hi, False, False):
            _fail(name, f"an integer in {_interval(self.lo, self.hi, False, False)}", v)


@dataclass(frozen=True)
class Real(Rule):
    """A finite float in the interval (nan and +-inf are always refused)."""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __call__(self, name: str, v: Any) -> None:
        if not (math.isfinite(v) and _within(v, self.lo, self.hi, self.lo_open, self.hi_open)):
            _fail(name, f"a finite number in {_interval(self.lo, self.hi, self.lo_open, self.hi_open)}", v)


@dataclass(frozen=True)
class Choice(Rule):
    valid: tuple[str, ...]

    def __call__(self, name: str, v: Any) -> None:
        if v not in self.valid:
            raise DCLError(f"unknown {name} {v!r}; valid choices: {', '.join(self.valid)}")


@dataclass(frozen=True)
class Text(Rule):
    what: str = "a non-empty string"

    def __call__(self, name: str, v: Any) -> None:
        if not v.strip():
            _fail(name, self.what, v)


@dataclass(frozen=True)
class Pattern(Rule):
    regex: str
    valid: str

    def __call__(self, name: str, v: Any) -> None:
        if not re.fullmatch(self.regex, v):
            raise DCLError(f"unknown {name} {v!r}; valid choices: {self.valid}")


@dataclass(frozen=True)
class Flag(Rule):
    """Booleans: the type check is the whole rule."""

    def __call__(self, name: str, v: Any) -> None:
        pass


@dataclass(frozen=True)
class Optional(Rule):
    inner: Rule

    def __call__(self, name: str, v: Any) -> None:
        if v is not None:
            self.inner(name, v)


@dataclass(frozen=True)
class Integers(Rule):
    lo: int = 1
    hi: int = BIG
    increasing: bool = False
    nonempty: bool = False

    def __call__(self, name: str, v: tuple) -> None:
        what = (f"{'a non-empty' if self.nonempty else 'a'} list of integers in [{self.lo}, {self.hi}]"
                + (", strictly increasing" if self.increasing else ""))
        if (self.nonempty and not v) or any(not self.lo <= x <= self.hi for x in v) or \
                (self.increasing and any(b <= a for a, b in zip(v, v[1:]))):
            _fail(name, what, v)


@dataclass(frozen=True)
class Reals(Rule):
    count: int
    lo: float
    hi: float
    hi_open: bool = False

    def __call__(self, name: str, v: tuple) -> None:
        if len(v) != self.count or not all(math.isfinite(x) and _within(x, self.lo, self.hi, False, self.hi_open)
                                           for x in v):
            _fail(name, f"{self.count} finite numbers in {_interval(self.lo, self.hi, False, self.hi_open)}, "
                        f"comma-separated", v)


@dataclass(frozen=True)
class Names(Rule):
    """A list of non-empty strings (file paths or module names)."""

    def __call__(self, name: str, v: tuple) -> None:
        if any(not s.strip() for s in v):
            _fail(name, "a list of non-empty names", v)


_RULES = {cls.__name__: cls for cls in (Integer, Real, Choice, Text, Pattern, Flag, Optional, Integers, Reals, Names)}


def rule_from_spec(spec: dict[str, Any]) -> Rule:
    """The rule that :meth:`Rule.spec` described."""
    args = {k: (rule_from_spec(v) if isinstance(v, dict) else tuple(v) if isinstance(v, list) else v)
            for k, v in spec.items() if k != "rule"}
    return _RULES[spec["rule"]](**args)


# the short names the tables below (and methods' own fields) are written with
def integer(lo: int | None = 0, hi: int | None = BIG) -> Rule:
    return Integer(lo, hi)


def real(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> Rule:
    return Real(lo, hi, lo_open, hi_open)


def choice(*valid: str) -> Rule:
    return Choice(tuple(valid))


def text(what: str = "a non-empty string") -> Rule:
    return Text(what)


def pattern(regex: str, valid: str) -> Rule:
    return Pattern(regex, valid)


flag = Flag()


def optional(inner: Rule) -> Rule:
    return Optional(inner)


def integers(lo: int = 1, hi: int = BIG, *, increasing: bool = False, nonempty: bool = False) -> Rule:
    return Integers(lo, hi, increasing, nonempty)


def reals(count: int, lo: float, hi: float, hi_open: bool = False) -> Rule:
    return Reals(count, lo, hi, hi_open)


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
    "arch": text(), "data": text(), "method": text(), "preset": optional(text()), "plugins": Names(),
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
    # network (a network's own fields are its options)
    "dropout": real(0, 1, hi_open=True),
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
    for name, rule in RULES.items():
        value = getattr(cfg, name)
        if rule is not None:
            rule(name, value)
    if cfg.optimizer == "sgd" and cfg.nesterov and cfg.momentum == 0:
        raise DCLError("momentum must be > 0 for SGD with Nesterov momentum, got 0; "
                       "set a momentum in (0, 1) or nesterov=false")


# ---------------------------------------------------------------------------------------
# Shared fields that an optimizer or schedule never reads (a method's or network's own
# fields are refused from their declarations: dcl.config.resolve.check_fields_used)
# ---------------------------------------------------------------------------------------
#: (field, value) -> the shared fields that a run with that value never reads
IGNORED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("optimizer", "adamw"): ("momentum", "nesterov"),
    ("optimizer", "adam"): ("momentum", "nesterov"),
    ("optimizer", "sgd"): ("betas",),
    ("schedule", "cosine"): ("milestones", "gamma"),
    ("schedule", "constant"): ("milestones", "gamma"),
}
