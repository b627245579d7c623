"""The kinds of rule a field may have: what values it may hold.

A rule is called as ``rule(name, value)`` and raises a one-line :class:`~dcl.errors.DCLError`
naming the field, the bad value and what is valid (numbers are also checked to be finite).
The shared fields' table of rules is :mod:`dcl.config.field_rules`; a method's or network's own
fields carry their rule in their :class:`~dcl.config.Option`.

The rules are small frozen dataclasses (:class:`Integer`, :class:`Real`, :class:`Choice`,
...), so the options a method or network declares with them (:mod:`dcl.config.options`) can
be cached as data and checked without importing the method.
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
