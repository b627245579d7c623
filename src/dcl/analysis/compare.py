"""Comparing runs: one table of many run folders, sorted and filtered (``dcl runs``).

    from dcl.analysis.compare import find_runs, run_rows, filter_rows, sort_rows
    rows = run_rows(find_runs(["runs"]))                # one dict per run folder
    rows = sort_rows(filter_rows(rows, ["method=dcl*"]), "best_test_error")

A run folder is any folder holding ``summary.json`` (written after every epoch, so a run in
progress shows up too). Learning curves of runs: :mod:`dcl.analysis.curves`.
"""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any, Iterable

from ..errors import DCLError

#: the table's columns: (key, header, digits)
COLUMNS = (
    ("run", "run", None), ("arch", "arch", None), ("data", "data", None), ("method", "method", None),
    ("epochs", "epochs", None), ("batches", "batches/ep", None), ("test_error", "final err %", 2),
    ("best_test_error", "best err %", 2), ("best_test_epoch", "best ep", None),
    ("test_error_at_best_val", "err@best val %", 2), ("samples_per_second", "samples/s", 0),
    ("peak_memory_mb", "memory MB", 0), ("ranks", "ranks", None), ("device", "device", None),
)


def batches_cell(s: dict[str, Any]) -> str | None:
    """``all``, or ``B/FULL`` for a run whose epochs ``--limit-train-batches`` cut short."""
    if "batches_per_epoch" not in s:
        return None
    return f"{s['batches_per_epoch']}/{s.get('full_batches_per_epoch')}" if s.get("epochs_truncated") else "all"


def ranks_cell(s: dict[str, Any]) -> str | None:
    """``1``, or ``WORLD: REPLICASxSTAGES BACKEND`` for a run of several processes."""
    if "world_size" not in s:
        return None
    if s["world_size"] == 1:
        return "1"
    return f"{s['world_size']}: {s.get('replicas')}x{s.get('stages')} {s.get('backend') or ''}".rstrip()


def find_runs(paths: Iterable[str | Path], max_depth: int = 4) -> list[Path]:
    """Every folder holding ``summary.json`` among ``paths`` and their subfolders (sorted)."""
    found: set[Path] = set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise DCLError(f"no such folder: {p}")
        if (p / "summary.json").is_file():
            found.add(p)
        if p.is_dir():
            for depth in range(1, max_depth + 1):
                found.update(s.parent for s in p.glob("/".join(["*"] * depth) + "/summary.json"))
    return sorted(found)


def read_summary(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(folder) / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DCLError(f"cannot read {folder}/summary.json: {e}") from None


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (one per epoch)."""
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_rows(folders: Iterable[Path]) -> list[dict[str, Any]]:
    """One flat dict per run: the summary's figures plus ``run`` (the folder)."""
    rows = []
    for f in folders:
        s = read_summary(f)
        row = {k: v for k, v in s.items() if not isinstance(v, (dict, list))}
        row["run"] = str(f)
        row["batches"], row["ranks"] = batches_cell(s), ranks_cell(s)
        if s.get("device_names"):
            row["device_names"] = ", ".join(map(str, s["device_names"]))
        for k, v in (s.get("config") or {}).items():
            row.setdefault(k, v if not isinstance(v, list) else ",".join(map(str, v)))
        rows.append(row)
    return rows


def filter_rows(rows: list[dict[str, Any]], filters: Iterable[str]) -> list[dict[str, Any]]:
    """Keep rows matching every ``KEY=PATTERN`` (shell-style pattern, e.g. ``method=dcl*``),
    ``KEY<NUMBER`` or ``KEY>NUMBER``."""
    for f in filters:
        for op in ("<=", ">=", "=", "<", ">"):
            if op in f:
                key, value = (s.strip() for s in f.split(op, 1))
                break
        else:
            raise DCLError(f"bad filter {f!r}: expected KEY=PATTERN, KEY<NUMBER or KEY>NUMBER")
        if rows and all(key not in r for r in rows):
            raise DCLError(f"unknown column {key!r} in filter {f!r}; e.g. {', '.join(c[0] for c in COLUMNS)}")
        if op == "=":
            rows = [r for r in rows if fnmatch.fnmatchcase(str(r.get(key)), value)]
            continue
        try:
            num = float(value)
        except ValueError:
            raise DCLError(f"bad filter {f!r}: {value!r} is not a number") from None
        test = {"<": float.__lt__, ">": float.__gt__, "<=": float.__le__, ">=": float.__ge__}[op]
        rows = [r for r in rows if isinstance(r.get(key), (int, float)) and test(float(r[key]), num)]
    return rows


def sort_rows(rows: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """Sort by ``key`` (``-key``: descending); rows lacking it go last."""
    if not key:
        return rows
    desc = key.startswith("-")
    key = key.lstrip("-")
    if rows and all(key not in r for r in rows):
        raise DCLError(f"unknown column {key!r} to sort by; e.g. {', '.join(c[0] for c in COLUMNS)}")
    have = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    try:
        have.sort(key=lambda r: r[key], reverse=desc)
    except TypeError:
        have.sort(key=lambda r: str(r[key]), reverse=desc)
    return have + missing


def format_cell(value: Any, digits: int | None) -> str:
    if value is None:
        return "-"
    if digits is not None and isinstance(value, (int, float)):
        return f"{value:,.{digits}f}" if digits == 0 else f"{value:.{digits}f}"
    return str(value)


def runs_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the table (:data:`COLUMNS`)."""
    return [c[1] for c in COLUMNS], [[format_cell(r.get(k), d) for k, _, d in COLUMNS] for r in rows]
