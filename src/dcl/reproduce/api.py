"""``reproduce``: a paper table as one resumable experiment grid whose output is the table.

    from dcl.reproduce import reproduce
    result = reproduce("table2", budget="short", rows=["mnist"], out="repro")
    result.markdown_path        # repro/table2.md: ours beside the paper's, cell by cell

Steps: plan the grid (:mod:`.grid`), train what is not done (:mod:`.runner`), measure the
memory columns (:mod:`.costs`), read every cell (:mod:`.collect`), write ``TABLE.md`` and
``TABLE.csv`` (:mod:`.report`). Everything is kept under ``out``: rerunning the same command
reuses finished runs and resumes interrupted ones.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import TrainConfig
from .collect import collect
from .costs import Cache, data_shape, epoch_seconds, gpu_hours, quick_step_seconds, step_seconds, untimed_reason
from .grid import Budget, Grid, cell_config, parse_budget, plan, run_key, steps_per_epoch
from .paper import PaperTable, dataset_sizes, get_table, load_tables
from .provenance import command_line, is_main_process, machine, machine_line, now
from .report import markdown, to_csv, write_table
from .runner import run_grid, run_state


@dataclass
class Result:
    table: str
    rows: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)
    markdown_path: Path | None = None
    csv_path: Path | None = None
    markdown: str = ""
    wall_seconds: float = 0.0


def reproduce(table: "str | PaperTable", *, budget: str | Budget = "paper", epochs: int | None = None, seeds: int = 1,
              rows: list[str] | None = None, cols: list[str] | None = None, data_dir=None,
              out: str | Path = "reproduce", device: str | None = None, overrides: dict[str, Any] | None = None,
              memory: bool = True, train: bool = True, progress: bool = False,
              log: Callable[[str], None] = print, command: str | None = None) -> Result:
    """Train the selected cells of ``table`` that are not done, then write ``out/TABLE.md`` and
    ``out/TABLE.csv`` (``TABLE-BUDGET.*`` on a budget other than the paper's,
    :func:`table_file_name`) with every cell of the table (cells outside the selection show what
    ``out`` already holds). ``train=False`` only writes the tables."""
    t0 = time.perf_counter()
    out = Path(out)
    main = is_main_process()
    if not main:  # data-parallel ranks other than 0 train alongside, silently, and write nothing
        log, progress = (lambda s: None), False
    b = budget if isinstance(budget, Budget) else parse_budget(budget, epochs)
    selected_grid = plan(table, budget=b, seeds=seeds, rows=rows, cols=cols, out=out, data_dir=data_dir,
                         overrides=overrides, device=device)
    name = selected_grid.table.name
    counts: dict[str, int] = {}
    interrupted = False
    if train and selected_grid.table.kind == "train":
        try:
            counts = run_grid(selected_grid, data_dir=data_dir, progress=progress, log=log)
        except KeyboardInterrupt:
            interrupted = True   # still write the table of what is done, then stop
    res = Result(name, [], counts)
    if main:
        full = plan(table, budget=b, seeds=seeds, out=out, data_dir=data_dir, overrides=overrides, device=device)
        selected = {(c.row.key, c.col.key) for c in selected_grid.cells}
        res.rows = collect(full, cache=Cache(out / "costs.json"), data_dir=data_dir, device=device,
                           selected=selected, measure_memory=memory and not interrupted, log=log)
        header = {"written": now(), "machine": machine_line(machine(device or "cpu"))}
        res.markdown = markdown(full, res.rows, command=command or command_line(), header=header)
        res.markdown_path, res.csv_path = write_table(out, table_file_name(full), res.markdown, to_csv(res.rows))
    res.wall_seconds = time.perf_counter() - t0
    if interrupted:
        raise KeyboardInterrupt
    return res


def table_file_name(grid: Grid) -> str:
    """``TABLE`` on the paper's budget (and for cost tables, which train nothing), else
    ``TABLE-BUDGET`` (``table2-short``, ``table2-3ep``), so that grids of one table on two
    budgets in the same ``out`` keep their own tables."""
    if grid.budget.name == "paper" or grid.table.kind != "train":
        return grid.table.name
    return f"{grid.table.name}-{grid.budget.name}"


def estimate(table: str, *, budget: str | Budget = "paper", epochs: int | None = None, seeds: int = 1,
             rows=None, cols=None, data_dir=None, out: str | Path = "reproduce", device: str | None = None,
             overrides: dict[str, Any] | None = None, timing: bool = True, every_cell: bool = False,
             log: Callable[[str], None] | None = None) -> tuple[Grid, list[dict[str, Any]]]:
    """The grid without training: per cell its status, epochs and runs, and (``timing``) the
    estimated time on this machine from a quick timing of training steps (cached in
    ``out/costs.json``). One cell per network, input shape and batch size is timed, on a batch of
    at most :data:`~dcl.reproduce.costs.TIMING_BATCH` samples scaled to the cell's batch; the
    other cells of that network and shape reuse its time and say so (``estimated_from``: their
    methods' own costs differ by what their local losses add). ``every_cell``: time each cell
    on its own, at its own batch size (slower: minutes for a VGG8B table on a CPU)."""
    b = budget if isinstance(budget, Budget) else parse_budget(budget, epochs)
    grid = plan(table, budget=b, seeds=seeds, rows=rows, cols=cols, out=out, data_dir=data_dir,
                overrides=overrides, device=device)
    sizes = dataset_sizes()
    cache = Cache(Path(out) / "costs.json")
    timed: dict[tuple, tuple[float, str]] = {}  # (network, input shape, batch) -> (step seconds, timed cell)
    lines = []
    for cell in grid.cells:
        rec: dict[str, Any] = {"row": cell.row.key, "col": cell.col.key, "label": cell.label,
                               "problem": cell.problem, "runs": [], "seconds": None}
        if cell.runs:
            cfg = cell.runs[0].cfg
            states = [run_state(r, grid.out) for r in cell.runs]
            rec.update(method=cfg.method, arch=cfg.arch, data=cfg.data, epochs=cfg.epochs,
                       paper_epochs=cell.paper_epochs, batch_size=cfg.batch_size,
                       runs=[f"{r.key}/seed{r.seed}" for r in cell.runs],
                       state=", ".join(sorted({s.status for s in states})))
            remaining = sum(cfg.epochs - (s.epochs if s.status == "partial" else 0)
                            for s in states if s.status != "done")
            train_size, test_size = sizes.get(cfg.data, (None, None))
            if not remaining:
                rec["seconds"] = 0.0
            elif timing and grid.table.kind == "train":  # runs exist: no problem but absent data
                why = untimed_reason(cfg)
                if why:
                    rec["untimed"] = why
                else:
                    shape = (cfg.arch, cfg.data if every_cell else data_shape(cfg.data), cfg.batch_size,
                             cfg.method if every_cell else None)
                    if shape in timed:
                        step, source = timed[shape]
                        rec["estimated_from"] = source
                    else:
                        if log:
                            log(f"timing {cfg.method} on {cfg.arch} / {cfg.data} (batch {cfg.batch_size})")
                        step = step_seconds(cfg, cache) if every_cell else quick_step_seconds(cfg, cache)
                        timed[shape] = (step, cell.label)
                    ep = epoch_seconds(step, steps_per_epoch(cfg, train_size), cfg, test_size)
                    rec.update(step_seconds=step, epoch_seconds=ep,
                               seconds=None if ep is None else ep * remaining)
        lines.append(rec)
    return grid, lines


def list_tables(*, tflops: float | None = None) -> list[dict[str, Any]]:
    """Every table and figure: its cells, the datasets and methods it needs, the epochs of its
    recipes and a GPU-hours estimate of one seed on the paper's budget (network FLOPs at an
    assumed throughput, :data:`dcl.reproduce.costs.ASSUMED_TFLOPS`); ``uncounted_runs``: runs whose
    FLOPs could not be counted (never a silent 0); ``gpu_hours`` is None where nothing trains."""
    from ..errors import DCLError
    from .costs import ASSUMED_TFLOPS
    sizes = dataset_sizes()
    out = []
    for name, t in load_tables().items():
        grid = plan(t, budget="paper", out=Path("."), data_dir=None)
        datasets = sorted({c.settings.get("data") for c in grid.cells if c.settings.get("data")})
        methods = sorted({c.settings.get("method") for c in grid.cells if c.settings.get("method")})
        missing = sorted({c.problem for c in grid.cells if c.problem and not c.problem.startswith("no data")})
        hours, seen, uncounted = 0.0, set(), 0
        for c in grid.cells:
            cfg = c.runs[0].cfg if c.runs else _stand_in(c)
            if t.kind != "train" or cfg is None or run_key(cfg) in seen:
                continue
            seen.add(run_key(cfg))
            try:
                hours += gpu_hours(cfg, *sizes[cfg.data], tflops or ASSUMED_TFLOPS)
            except (DCLError, RuntimeError, NotImplementedError, ValueError, KeyError):
                uncounted += 1  # said in the row, never a silent 0
        out.append({"table": name, "source": t.source, "title": t.title, "kind": t.kind, "cells": len(grid.cells),
                    "runs": len(seen), "datasets": datasets, "methods": methods, "missing": missing,
                    "gpu_hours": hours if t.kind == "train" and len(seen) > uncounted else None,
                    "uncounted_runs": uncounted, "printed": t.printed})
    return out


def _stand_in(cell) -> "TrainConfig | None":
    """For a cell whose method is not registered yet: the same network and dataset under BP
    (the network's FLOPs do not depend on the method; its own modules are not counted)."""
    from ..errors import DCLError
    if not str(cell.problem).startswith("method not registered"):
        return None
    plain = {k: v for k, v in cell.overrides.items() if not (isinstance(v, str) and v.startswith("@"))}
    try:
        return cell_config({**cell.settings, "method": "bp"}, plain, {})
    except DCLError:
        return None


__all__ = ["Result", "estimate", "get_table", "list_tables", "load_tables", "reproduce"]
