"""A method's or a network's own hyperparameters, declared where they are read.

A method (or network) that has hyperparameters of its own declares them in its own file as
:class:`Option` objects: name, type, default, allowed values, one-line help::

    class ForwardForward(Method):
        options = (
            Option("ff_threshold", float | None, None, optional(real(0, None, lo_open=True)),
                   "theta; None = the layer's unit count (sum) or 2.0 (mean)"),
        )

A run's :class:`~dcl.config.TrainConfig` then holds the declared options of its method and
its network (defaults filled in) in ``cfg.options`` and reads them as attributes
(``cfg.ff_threshold``). Everything else is derived from the declarations: the type and range
checks, ``--set``, ``config.toml``, ``dcl config fields``, and the one-line refusal of a field
the run does not read ("ff_threshold has no effect with method dcl (only method ff, symba
read it)"). Declarations are plain data, so :mod:`dcl.config.catalog` caches them and the
command line checks them without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..checks import describe_value
from ..errors import DCLError
from .rules import Rule, rule_from_spec
from .values import coerce_value, exact_value, type_name

#: the field types an option may have, by the name a cache file stores
TYPES: dict[str, Any] = {
    "int": int, "float": float, "bool": bool, "str": str,
    "int | None": int | None, "float | None": float | None, "str | None": str | None,
    "tuple[int, ...]": tuple[int, ...], "tuple[int, ...] | None": tuple[int, ...] | None,
    "tuple[float, ...]": tuple[float, ...],
}
_NAMES = {v: k for k, v in TYPES.items()}


@dataclass(frozen=True)
class Option:
    """One hyperparameter of a method or network: ``name`` (a TrainConfig-style field name,
    unique across the library), ``type`` (one of :data:`TYPES`), ``default``, ``rule`` (allowed
    values, :mod:`dcl.config.rules`) and ``help`` (one line)."""

    name: str
    type: Any
    default: Any
    rule: Rule
    help: str = ""
    #: options that may not be set together with this one (both not None): "give one"
    excludes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in _NAMES:
            raise ValueError(f"option {self.name}: type {self.type!r} is not one of {', '.join(TYPES)}")
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not an identifier")

    def check(self, value: Any) -> Any:
        """``value`` as this option's type (ints count as floats, lists as tuples; strings are
        never parsed here, :func:`parse` does), checked against its rule (one-line DCLError)."""
        ok, exact = exact_value(value, self.type)
        if not ok:
            raise DCLError(f"{self.name} must be {type_name(self.type)}, got {describe_value(value)}")
        self.rule(self.name, exact)
        return exact

    def parse(self, value: Any) -> Any:
        """``value``, possibly a command-line string (``"10,20"``), as this option's type."""
        return coerce_value(self.name, value, self.type)

    def spec(self) -> dict[str, Any]:
        default = list(self.default) if isinstance(self.default, tuple) else self.default
        return {"name": self.name, "type": _NAMES[self.type], "default": default, "rule": self.rule.spec(),
                "help": self.help, "excludes": list(self.excludes)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Option":
        tp = TYPES[spec["type"]]
        ok, default = exact_value(spec["default"], tp)
        return cls(spec["name"], tp, default, rule_from_spec(spec["rule"]), spec.get("help", ""),
                   tuple(spec.get("excludes", ())))

    @property
    def type_name(self) -> str:
        return type_name(self.type)


def check_declarations(owner: str, options: Iterable[Option]) -> tuple[Option, ...]:
    """``options`` as a tuple after checking that each is an :class:`Option`, names are unique,
    and every default passes its own rule (a method author's mistake, said at registration)."""
    out, seen = tuple(options), set()
    for o in out:
        if not isinstance(o, Option):
            raise DCLError(f"{owner}: options must be dcl.config.Option objects, got {type(o).__name__}")
        if o.name in seen:
            raise DCLError(f"{owner}: option {o.name!r} is declared twice")
        seen.add(o.name)
        try:
            o.check(o.default)
        except DCLError as e:
            raise DCLError(f"{owner}: the default of option {o.name!r} is not allowed: {e}") from None
    return out
