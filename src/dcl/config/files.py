"""Config files: a :class:`~dcl.config.TrainConfig` as TOML, and the list of its fields.

    dcl train --config my.toml --set lr=1e-3        # file values, then flags and --set on top
    dcl config show --arch conv --data mnist       # the fully resolved config, as TOML
    dcl config fields                              # every field: type, default, what it does

A config file holds ``FIELD = VALUE`` lines for any fields of TrainConfig (shared fields and
the options of the run's method and network) (read with the
standard library's ``tomllib``; tables ``[name]`` are allowed and only group lines, their keys
are fields like the others). Values are checked like ``--set``. An unset optional field is
written as ``"none"``. Every run folder gets ``config.toml``, the run's whole config, which
``--config`` reads back to repeat the run: precedence is defaults < preset < file < flags.
"""
from __future__ import annotations

import inspect
import json
import re
import tomllib
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .catalog import all_options, declared_options, readers
from .train_config import TrainConfig, coerce_overrides
from ..errors import DCLError


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    default: Any
    section: str
    comment: str


_SECTION = re.compile(r"^\s*#\s*---\s*(.+?)\s*-*\s*$")
_FIELD = re.compile(r"^\s{4}(\w+)\s*:\s*([^=]+?)\s*=\s*(.+?)(?:\s+#\s*(.*))?$")


def field_docs(cfg: TrainConfig | None = None) -> list[FieldDoc]:
    """Every field with its type, default, section and one-line meaning: the shared fields with
    the comments beside them in :class:`TrainConfig`'s source, then the options as their owners
    declare them (:mod:`dcl.config.options`). With ``cfg``: the options of its method and
    network; without: every registered method's and network's, each under the names of the
    components that read it."""
    section, comments = "", {}
    sections = {}
    for line in inspect.getsource(TrainConfig).splitlines():
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        m = _FIELD.match(line)
        if m:
            comments[m.group(1)] = (m.group(4) or "").strip()
            sections[m.group(1)] = section
    hints = typing.get_type_hints(TrainConfig)
    out = []
    default = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "options":
            continue
        tp = hints[f.name]
        name = getattr(tp, "__name__", None) if typing.get_origin(tp) is None else None
        out.append(FieldDoc(f.name, name or str(tp).replace("typing.", ""), getattr(default, f.name),
                            sections.get(f.name, ""), comments.get(f.name, "")))
    if cfg is not None:
        owned = [(f"arch {cfg.arch}'s own fields", declared_options("", cfg.arch)),
                 (f"method {cfg.method}'s own fields", declared_options(cfg.method, ""))]
        for title, options in owned:
            out += [FieldDoc(o.name, _type(o.type), o.default, title, o.help) for o in options.values()]
        return out
    for name, option in sorted(all_options().items(), key=lambda kv: _owners(kv[0])):
        out.append(FieldDoc(name, _type(option.type), option.default, f"read by {_owners(name)}", option.help))
    return out


def _owners(option: str) -> str:
    """``"method ff, symba"``: who declares ``option``, by kind."""
    return "; ".join(f"{kind} {', '.join(owners)}" for kind, owners in readers(option).items())


def _type(tp: Any) -> str:
    name = getattr(tp, "__name__", None) if typing.get_origin(tp) is None else None
    return name or str(tp).replace("typing.", "")


def toml_value(value: Any) -> str:
    """One TOML value: None -> "none", tuples -> arrays, strings quoted (JSON escapes are TOML's)."""
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def config_to_toml(cfg: TrainConfig, header: str = "") -> str:
    """The whole config as TOML, one field a line, grouped and commented as in ``config.py``."""
    lines = [f"# {h}" for h in header.splitlines()] if header else []
    section = None
    for doc in field_docs(cfg):
        if doc.section != section:
            section = doc.section
            lines.append(f"\n# --- {section}")
        line = f"{doc.name} = {toml_value(getattr(cfg, doc.name))}"
        lines.append(f"{line:<40} # {doc.comment}" if doc.comment else line)
    return "\n".join(lines).lstrip("\n") + "\n"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The ``FIELD: value`` pairs of a TOML config file (tables flattened), unchecked."""
    path = Path(path)
    if path.is_dir() and (path / "config.toml").is_file():
        path = path / "config.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DCLError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DCLError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise DCLError(f"config file {path} is not valid TOML: {e}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        items = value.items() if isinstance(value, dict) else [(key, value)]
        for k, v in items:
            if k in flat:
                raise DCLError(f"config file {path}: field {k!r} is given twice")
            flat[k] = v
    try:
        coerce_overrides(TrainConfig(), flat)  # check names and types now, naming the file
    except DCLError as e:
        raise DCLError(f"config file {path}: {e}") from None
    return flat
