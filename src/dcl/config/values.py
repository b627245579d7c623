"""Field values by their type annotations: the type check of a config field, the conversion
of a command-line string to the field's type (``"10,20"`` -> ``(10, 20)``), and the parsing
of ``--set FIELD=VALUE`` options. Independent of which dataclass the fields belong to
(:class:`dcl.config.TrainConfig` uses them)."""
from __future__ import annotations

import types
import typing
from typing import Any

from ..checks import is_integer, is_real
from ..errors import DCLError

_UNION_TYPES = (typing.Union, getattr(types, "UnionType", None))


def type_name(tp: Any) -> str:
    optional = typing.get_origin(tp) in _UNION_TYPES
    inner = [a for a in typing.get_args(tp) if a is not type(None)][0] if optional else tp
    if typing.get_origin(inner) is tuple:
        name = "a list of " + {int: "integers", float: "numbers"}.get(typing.get_args(inner)[0], "values")
    else:
        name = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[inner]
    return name + (" or None" if optional else "")


def exact_value(value: Any, tp: Any) -> tuple[bool, Any]:
    """``(True, value as tp)`` if ``value`` already is of type ``tp`` (ints count as floats,
    lists as tuples); ``(False, None)`` otherwise. Strings are never parsed here."""
    if typing.get_origin(tp) in _UNION_TYPES:
        if value is None:
            return True, None
        tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, (tuple, list)):
            return False, None
        items = [exact_value(v, typing.get_args(tp)[0]) for v in value]
        return (all(ok for ok, _ in items), tuple(v for _, v in items))
    if tp is bool:
        return (True, bool(value)) if isinstance(value, bool) or type(value).__name__ == "bool_" else (False, None)
    if tp is int:
        return (True, int(value)) if is_integer(value) else (False, None)
    if tp is float:
        return (True, float(value)) if is_real(value) else (False, None)
    return (True, value) if isinstance(value, tp) else (False, None)


def coerce_value(name: str, value: Any, tp: Any) -> Any:
    """Convert ``value`` (possibly a CLI string) to the field's type, or raise DCLError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in _UNION_TYPES and type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return coerce_value(name, value, inner)
    try:
        if origin is tuple:
            if isinstance(value, str):
                parts = [p for p in value.replace(" ", "").split(",") if p]
            else:
                parts = list(value)
            elem = args[0]
            return tuple(coerce_value(name, p, elem) for p in parts)
        if tp is bool:
            if isinstance(value, bool):
                return value
            s = str(value).lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value, 10)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise DCLError(f"bad value {value!r} for {name}: expected {getattr(tp, '__name__', tp)}")


def parse_set_options(items: list[str]) -> dict[str, str]:
    """Parse ``["lr=1e-3", "milestones=10,20"]`` into a dict; bad items, and a field set
    twice, raise DCLError."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise DCLError(f"bad override {item!r}: expected FIELD=VALUE")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if not k:
            raise DCLError(f"bad override {item!r}: expected FIELD=VALUE")
        if k in out:
            raise DCLError(f"{k} is set twice (--set {k}={out[k]} and --set {k}={v.strip()}); give it once")
        out[k] = v.strip()
    return out


def merge_options(flags: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
    """The fields a command line asks for: its named flags (``--epochs 1``: ``{"epochs": 1}``;
    None = not given) and its ``--set`` pairs. A field given both ways is a DCLError (one
    would silently win); ``--set arch=...`` etc. count as ``--arch ...``."""
    given = {k.replace("-", "_"): v for k, v in flags.items() if v is not None}
    for key, value in sets.items():
        if key in given:
            flag = "--" + key.replace("_", "-")
            raise DCLError(f"{key} is given twice ({flag} {given[key]} and --set {key}={value}); give it once")
    return {**given, **sets}
