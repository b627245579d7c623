"""The paper's tables as data: :func:`load_tables` reads ``paper.toml`` (this package's one
copy of the paper's numbers) into :class:`PaperTable` grids of :class:`Axis` entries and
:class:`PaperValue` numbers, each with its source (table, row, column, quantity).

    from dcl.reproduce.paper import load_tables
    t = load_tables()["table2"]
    t.paper_value("mnist", "dcl", "err")     # PaperValue(1.46, printed='1.46', source='Table 2, DCL, MNIST, Err.')

A printed row like ``"1.87M 1.29 18.9M 34.73 19.2M 65.94"`` is parsed against the table's
``values`` (here params, err) once per entry of the other axis; any mismatch is a
:class:`~dcl.errors.DCLError` naming the table and the row.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import DCLError, choices_error

#: what each printed quantity is called in the paper's column headers
QUANTITY_LABELS = {"err": "Err.", "err_pm": "Err.", "params": "Params.", "dparams": "Δθ", "memory": "Memory"}

_NUMBER = r"\d+(?:\.\d+)?"
_PATTERNS = {
    "err": rf"(?P<star>\*)?(?P<v>{_NUMBER})",
    "err_pm": rf"(?P<v>{_NUMBER}) ± (?P<std>{_NUMBER})%",
    "params": rf"(?P<v>{_NUMBER})(?P<unit>[KM])?",
    "dparams": rf"(?P<v>{_NUMBER})(?P<unit>[KM])?",
    "memory": rf"(?P<v>\d+) ?MiB",
}
_UNITS = {None: 1, "K": 10 ** 3, "M": 10 ** 6}
#: keys of an axis entry that set up its cells' runs (merged table < row < column)
RUN_KEYS = ("method", "arch", "data", "metric")


@dataclass(frozen=True)
class PaperValue:
    """One number printed in the paper: ``value`` (percent, a count, or MiB), ``std`` for
    ``mean ± std`` cells, ``replicated`` for the paper's asterisk, and where it is printed."""

    value: float
    printed: str
    source: str
    kind: str
    std: float | None = None
    replicated: bool = False


@dataclass
class Axis:
    """One row or column of a table: its key, label and the run settings it contributes."""

    key: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)   # method / arch / data / metric
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields ("set")
    printed: str | None = None
    note: str = ""


@dataclass
class PaperTable:
    """A table or figure of the paper as a grid: ``rows`` x ``cols`` of cells."""

    name: str
    source: str
    title: str
    values: tuple[str, ...]
    rows: list[Axis]
    cols: list[Axis]
    settings: dict[str, Any]
    kind: str = "train"                 # train (cells are trained runs) | cost (Δθ + memory only)
    printed: bool = True                # False for figures: the paper prints no numbers
    printed_by: str = "cols"
    batch_size: int | None = None       # the batch size of the memory columns
    paper_seeds: int | None = None      # runs per cell, where the paper states it
    note: str = ""
    numbers: dict[tuple[str, str, str], PaperValue] = field(default_factory=dict)

    def row(self, key: str) -> Axis:
        return _find(self.rows, key, f"row of {self.name}")

    def col(self, key: str) -> Axis:
        return _find(self.cols, key, f"column of {self.name}")

    def paper_value(self, row: str, col: str, quantity: str) -> PaperValue | None:
        """The paper's ``quantity`` (``err``, ``params``, ``dparams``, ``memory``) of a cell."""
        if quantity == "err" and "err_pm" in self.values:
            quantity = "err_pm"
        return self.numbers.get((row, col, quantity))

    def cell_settings(self, row: Axis, col: Axis) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(settings, overrides)`` of a cell: the table's, then the row's, then the column's."""
        settings = {**self.settings, **row.settings, **col.settings}
        overrides = {**row.overrides, **col.overrides}
        return settings, overrides

    @property
    def has_memory(self) -> bool:
        return "memory" in self.values


def _find(items: list[Axis], key: str, what: str) -> Axis:
    for a in items:
        if a.key == key:
            return a
    raise choices_error(what, key, [a.key for a in items])


def to_value(kind: str, parts: dict[str, Any], printed: str, source: str) -> PaperValue:
    v = float(parts["v"])
    if kind in ("params", "dparams"):
        v *= _UNITS[parts.get("unit")]
        v = float(round(v))
    std = float(parts["std"]) if parts.get("std") is not None else None
    return PaperValue(v, printed, source, kind, std=std, replicated=bool(parts.get("star")))


def _printed_tokens(printed: str, kinds: tuple[str, ...], groups: int, where: str) -> list[list[str]]:
    """The printed row cut into ``groups`` x ``len(kinds)`` tokens, each as printed."""
    alts = [re.sub(r"\(\?P<\w+>", "(?:", _PATTERNS[k]) for k in kinds]
    token_re = r"\s+".join(f"({a})" for a in alts)
    full = r"\s+".join([token_re] * groups)
    m = re.fullmatch(full, printed.strip())
    if m is None:
        raise DCLError(f"{where}: printed row {printed!r} is not {groups} x ({', '.join(kinds)})")
    toks = list(m.groups())
    n = len(kinds)
    return [toks[i * n:(i + 1) * n] for i in range(groups)]


def _axis(entry: dict[str, Any], where: str) -> Axis:
    if "key" not in entry:
        raise DCLError(f"{where}: an entry has no key")
    unknown = set(entry) - {"key", "label", "set", "printed", "note", *RUN_KEYS}
    if unknown:
        raise DCLError(f"{where}: entry {entry['key']!r} has unknown fields {sorted(unknown)}")
    return Axis(key=str(entry["key"]), label=str(entry.get("label", entry["key"])),
                settings={k: entry[k] for k in RUN_KEYS if k in entry}, overrides=dict(entry.get("set", {})),
                printed=entry.get("printed"), note=str(entry.get("note", "")))


def build_table(name: str, d: dict[str, Any]) -> PaperTable:
    """One table from its ``paper.toml`` entry, with every printed number parsed."""
    where = f"paper table {name}"
    rows = [_axis(e, f"{where} rows") for e in d.get("rows", [])]
    cols = [_axis(e, f"{where} cols") for e in d.get("cols", [])]
    if not rows or not cols:
        raise DCLError(f"{where}: needs rows and cols")
    for axis in (rows, cols):
        keys = [a.key for a in axis]
        if len(set(keys)) != len(keys):
            raise DCLError(f"{where}: duplicate keys in {keys}")
    values = tuple(d.get("values", ()))
    for v in values:
        if v not in _PATTERNS:
            raise choices_error(f"value kind of {where}", v, list(_PATTERNS))
    t = PaperTable(name=name, source=str(d.get("source", name)), title=str(d.get("title", "")), values=values,
                   rows=rows, cols=cols, settings={k: d[k] for k in RUN_KEYS if k in d},
                   kind=str(d.get("kind", "train")), printed=bool(d.get("printed", True)),
                   printed_by=str(d.get("printed_by", "cols")), batch_size=d.get("batch_size"),
                   paper_seeds=d.get("paper_seeds"), note=str(d.get("note", "")))
    if t.printed_by not in ("rows", "cols"):
        raise DCLError(f"{where}: printed_by must be rows or cols, got {t.printed_by!r}")
    carriers, others = (cols, rows) if t.printed_by == "cols" else (rows, cols)
    for a in carriers:
        if a.printed is None:
            continue
        if not t.printed:
            raise DCLError(f"{where}: a figure prints no values, but {a.key} has some")
        groups = _printed_tokens(a.printed, values, len(others), f"{where}, {a.key}")
        for other, toks in zip(others, groups):
            row, col = (other, a) if t.printed_by == "cols" else (a, other)
            for kind, tok in zip(values, toks):
                parts = re.fullmatch(_PATTERNS[kind], tok).groupdict()
                source = f"{t.source}; {a.label}; {other.label}; {QUANTITY_LABELS[kind]}"
                t.numbers[(row.key, col.key, kind)] = to_value(kind, parts, tok, source)
    return t


@lru_cache(maxsize=1)
def _load_raw() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("paper.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_tables() -> dict[str, PaperTable]:
    """Every table and figure of ``paper.toml``, by name (``table1`` .. ``tableV``, ``fig1`` ..)."""
    raw = _load_raw()
    return {name: build_table(name, d) for name, d in raw["tables"].items()}


def dataset_sizes() -> dict[str, tuple[int, int]]:
    """``{dataset: (train, test)}`` as App. J.1 gives them."""
    return {k: (int(v["train"]), int(v["test"])) for k, v in _load_raw()["datasets"].items()}


def get_table(name: str) -> PaperTable:
    """The table ``name`` (case-insensitive: ``table2``, ``tableIV``, ``figII``)."""
    tables = load_tables()
    by_lower = {k.lower(): k for k in tables}
    key = by_lower.get(name.lower().replace(" ", ""))
    if key is None:
        raise choices_error("table", name, list(tables))
    return tables[key]
