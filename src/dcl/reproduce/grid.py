"""A paper table as a grid of runs: every cell (row x column) is one training run per seed,
configured with the paper's recipe (the preset found by name), a budget, and the table's
overrides.

    from dcl.reproduce.grid import plan
    g = plan("table2", budget="short", rows=["mnist"], out="repro")
    for cell in g.cells: cell.problem, [r.key for r in cell.runs]

A run's folder is named by what it trains (``{method}-{arch}-{data}-{epochs}ep-{hash}`` under
``OUT/runs``, one ``seedN`` folder per seed), so cells of different tables that train the same
thing (Table 3's DCL and Table IV's DCL) share it, and a run already done is never trained again.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import PRESETS, TrainConfig, check_fields_used, find_preset, resolve_config
from ..errors import DCLError, choices_error
from .paper import Axis, PaperTable, get_table

#: ``--budget short``: this fraction of the paper's epochs (milestones scaled alike)
SHORT_FRACTION = 0.1
#: TrainConfig fields that say where or how fast a run is computed, not what it computes:
#: left out of a run's identity, so a grid started on a CPU can be finished on a GPU
ENVIRONMENT_FIELDS = ("device", "compile", "channels_last", "eval_batch_size", "preset", "seed")
#: override values of this form name another column's run in the same row (its checkpoint)
REF_PREFIX = "@col:"


@dataclass(frozen=True)
class Budget:
    """How long each cell trains: ``fraction`` of the paper's epochs, or exactly ``epochs``."""

    name: str
    fraction: float = 1.0
    epochs: int | None = None

    def scale(self, cfg: TrainConfig) -> TrainConfig:
        """``cfg`` with its epochs and LR milestones scaled by the budget (schedule shape kept)."""
        from ..config.field_rules import IGNORED_FIELDS

        epochs = self.epochs if self.epochs is not None else max(1, round(cfg.epochs * self.fraction))
        if epochs == cfg.epochs:
            return cfg
        if "milestones" in IGNORED_FIELDS.get(("schedule", cfg.schedule), ()):
            return cfg.replace(epochs=epochs)    # a schedule without milestones (constant, cosine)
        f = epochs / cfg.epochs
        milestones = tuple(sorted({max(1, round(m * f)) for m in cfg.milestones if round(m * f) < epochs}))
        return cfg.replace(epochs=epochs, milestones=milestones)

    def describe(self) -> str:
        if self.epochs is not None:
            return f"{self.epochs} epoch{'s' if self.epochs > 1 else ''} per run (milestones scaled)"
        if self.fraction == 1.0:
            return "the paper's epochs"
        return f"{self.fraction:g} of the paper's epochs (milestones scaled alike)"


def parse_budget(budget: str | float | None, epochs: int | None = None) -> Budget:
    """``paper`` | ``short`` (:data:`SHORT_FRACTION`) | a fraction in (0, 1]; ``epochs`` wins."""
    if epochs is not None:
        if epochs < 1:
            raise DCLError(f"--epochs must be >= 1, got {epochs}")
        return Budget(f"{epochs}ep", epochs=epochs)
    if budget is None or budget == "paper":
        return Budget("paper")
    if budget == "short":
        return Budget("short", SHORT_FRACTION)
    try:
        f = float(budget)
    except (TypeError, ValueError):
        raise DCLError(f"unknown budget {budget!r}; valid choices: paper, short, or a fraction in (0, 1]") from None
    if not 0.0 < f <= 1.0:
        raise DCLError(f"budget fraction must be in (0, 1], got {budget}")
    return Budget(f"{f:g}", f)


@dataclass
class RunSpec:
    """One training run of the grid (one seed of one cell)."""

    key: str                      # folder name under OUT/runs (what it trains)
    seed: int
    cfg: TrainConfig
    refs: dict[str, str] = field(default_factory=dict)   # config field -> referenced run key

    def folder(self, out: Path) -> Path:
        """``OUT/runs/KEY/seedN``: run.json, provenance.json, posthoc.json, error.txt, and
        ``train/``, the folder :func:`dcl.train` writes (checkpoint, metrics, summary)."""
        return Path(out) / "runs" / self.key / f"seed{self.seed}"

    def train_dir(self, out: Path) -> Path:
        return self.folder(out) / "train"


@dataclass
class Cell:
    """One cell: its row and column, metric, runs (one per seed) or the reason it cannot run."""

    table: PaperTable
    row: Axis
    col: Axis
    settings: dict[str, Any]
    overrides: dict[str, Any]
    metric: str
    runs: list[RunSpec] = field(default_factory=list)
    needs: list[RunSpec] = field(default_factory=list)   # runs of other columns its runs read ("@col:")
    paper_epochs: int | None = None   # the recipe's epochs before the budget
    problem: str | None = None    # "no data: cifar10 not in DATA_DIR", "method not registered: ff", ...

    @property
    def label(self) -> str:
        return f"{self.row.label} / {self.col.label}"


@dataclass
class Grid:
    table: PaperTable
    budget: Budget
    seeds: int
    cells: list[Cell]
    out: Path

    def runs(self) -> list[RunSpec]:
        """Every distinct run of the grid's runnable cells, the runs another run reads (also
        when their own cell is not selected) before the runs that read them."""
        seen: dict[tuple[str, int], RunSpec] = {}
        for cell in self.cells:
            if cell.problem is None:
                for r in cell.needs + cell.runs:
                    seen.setdefault((r.key, r.seed), r)
        return sorted(seen.values(), key=lambda r: len(r.refs) > 0)


def _select(axis: list[Axis], keys: list[str] | None, what: str) -> list[Axis]:
    if not keys:
        return list(axis)
    valid = [a.key for a in axis]
    for k in keys:
        if k not in valid:
            raise choices_error(what, k, valid)
    return [a for a in axis if a.key in keys]


def run_identity(cfg: TrainConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that differ from the defaults, less :data:`ENVIRONMENT_FIELDS`:
    what a run computes (new config fields with defaults leave old identities unchanged)."""
    default = TrainConfig()
    out = {}
    for f in fields(TrainConfig):
        if f.name in ENVIRONMENT_FIELDS:
            continue
        v = getattr(cfg, f.name)
        if v != getattr(default, f.name):
            out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def run_key(cfg: TrainConfig, refs: dict[str, str] | None = None) -> str:
    ident = run_identity(cfg)
    for name, ref in (refs or {}).items():
        ident[name] = REF_PREFIX + ref
    digest = hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{cfg.method}-{cfg.arch}-{cfg.data}-{cfg.epochs}ep-{digest}"


def cell_config(settings: dict[str, Any], overrides: dict[str, Any], extra: dict[str, Any]) -> TrainConfig:
    """The run config of a cell: the method's own recipe ``{method}-{arch}-{data}`` if there is
    one (it may name the method's own network in ``arch``), else ``{arch}-{data}``; then the
    cell's overrides and ``extra`` (command-line ``--set``, ``--device``)."""
    method, arch, data = settings["method"], settings["arch"], settings["data"]
    preset = find_preset(arch, data, method)
    kw: dict[str, Any] = {**overrides, **extra, "method": method}
    if preset is None or "arch" not in PRESETS.get(preset):
        kw["arch"] = arch
    return resolve_config(data=data, preset=preset, **kw)


def _availability(settings: dict[str, Any], metric: str | None, data_dir) -> str | None:
    """Why a cell cannot run here (a name not registered, its data absent), or None.
    ``metric=None``: a cost cell, which reads no data."""
    from ..data import DATASETS, find_dataset_folder
    from ..methods import METHODS
    from ..models import ARCHS
    from .metrics import METRICS, metric_name

    for what, name, reg in (("method", settings.get("method"), METHODS), ("network", settings.get("arch"), ARCHS),
                            ("dataset", settings.get("data"), DATASETS)):
        if name is None:
            return f"the table names no {what}"
        if name not in reg:
            return f"{what} not registered: {name}"
    if metric is None:
        return None
    if metric_name(metric) not in METRICS:
        return f"metric not available: {metric}"
    if find_dataset_folder(settings["data"], data_dir) is None:
        return f"no data: {settings['data']} not found (dcl data info)"
    return None


def plan(table: str | PaperTable, *, budget: Budget | str = "paper", seeds: int = 1, rows=None, cols=None,
         out: str | Path = "reproduce", data_dir=None, overrides: dict[str, Any] | None = None,
         device: str | None = None) -> Grid:
    """The grid of ``table``: its selected cells, each with its runs or the reason it has none."""
    t = get_table(table) if isinstance(table, str) else table
    if seeds < 1:
        raise DCLError(f"--seeds must be >= 1, got {seeds}")
    b = parse_budget(budget) if not isinstance(budget, Budget) else budget
    extra = dict(overrides or {})
    if device is not None:
        extra["device"] = device
    cells = []
    for row in _select(t.rows, rows, f"row of {t.name}"):
        for col in _select(t.cols, cols, f"column of {t.name}"):
            settings, cell_over = t.cell_settings(row, col)
            cell = Cell(t, row, col, settings, cell_over, metric=settings.get("metric", "test_error"))
            cells.append(cell)
            cell.problem = _availability(settings, cell.metric if t.kind == "train" else None, data_dir)
            _add_runs(cell, b, seeds, extra, {c.key: c for c in t.cols}, row)
    return Grid(t, b, seeds, cells, Path(out))


def _add_runs(cell: Cell, budget: Budget, seeds: int, extra: dict[str, Any], cols: dict[str, Axis], row: Axis) -> None:
    """Resolve the cell's config and add one :class:`RunSpec` per seed (unless it has a problem)."""
    if cell.problem is not None and not cell.problem.startswith("no data"):
        return
    plain = {k: v for k, v in cell.overrides.items() if not (isinstance(v, str) and v.startswith(REF_PREFIX))}
    refs_cols = {k: v[len(REF_PREFIX):] for k, v in cell.overrides.items() if k not in plain}
    try:
        base = cell_config(cell.settings, plain, extra)
    except DCLError as e:
        cell.problem = f"bad configuration: {e}"
        return
    cell.paper_epochs = base.epochs
    cfg = budget.scale(base)
    try:                 # what dcl.train would refuse: a field the run never reads
        check_fields_used(cfg)
    except DCLError as e:
        cell.problem = f"bad configuration: {e}"
        return
    refs = {}
    for name, col_key in refs_cols.items():
        if col_key not in cols:
            raise DCLError(f"{cell.table.name}: {cell.col.key} refers to unknown column {col_key!r}")
        settings, over = cell.table.cell_settings(row, cols[col_key])
        try:
            ref_cfg = budget.scale(cell_config(settings, over, extra))
        except DCLError as e:
            cell.problem = f"needs column {col_key}, which cannot run: {e}"
            return
        refs[name] = run_key(ref_cfg)
        cell.needs += [RunSpec(refs[name], s, ref_cfg.replace(seed=s)) for s in range(seeds)]
    key = run_key(cfg, refs)
    cell.runs = [RunSpec(key, s, cfg.replace(seed=s), refs) for s in range(seeds)]


def steps_per_epoch(cfg: TrainConfig, train_size: int | None) -> int | None:
    if train_size is None:
        return cfg.limit_train_batches
    n = math.ceil((train_size - cfg.val_split) / cfg.batch_size)
    return min(n, cfg.limit_train_batches) if cfg.limit_train_batches else n
