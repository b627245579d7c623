"""Reading a grid's results: per cell our mean ± std over seeds (final and best epoch), the
paper's number, epochs run, parameters, Δθ and memory, and the provenance of each run.

    rows = collect(grid, cache=Cache(out / "costs.json"))     # one flat dict per cell
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Callable

from ..errors import DCLError
from .costs import Cache, memory, param_counts
from .grid import Cell, Grid
from .metrics import MetricValue, read_history, read_metric
from .provenance import machine_line, read_provenance
from .runner import run_state


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None with fewer than two values)."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _summary(cell: Cell, out: Path, seed_run) -> dict[str, Any] | None:
    path = seed_run.train_dir(out) / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def cell_status(cell: Cell, out: Path) -> tuple[str, list]:
    """``(status, finished runs)`` of a cell: done | k/N seeds done | partial (epoch e/E) | not
    run | failed: ... | the reason it cannot run here."""
    if cell.problem is not None:
        return cell.problem, []
    states = [(r, run_state(r, out)) for r in cell.runs]
    done = [r for r, s in states if s.status == "done"]
    if len(done) == len(states):
        return "done", done
    failed = [s for _, s in states if s.status == "failed"]
    partial = [s for _, s in states if s.status == "partial"]
    if failed:
        status = f"failed: {failed[0].error}"
    elif partial:
        status = f"partial (epoch {partial[0].epochs}/{cell.runs[0].cfg.epochs})"
    else:
        status = "not run"
    if done:
        status = f"{len(done)}/{len(states)} seeds done; " + status
    return status, done


def collect(grid: Grid, *, cache: Cache | None = None, data_dir=None, device: str | None = None,
            selected: set[tuple[str, str]] | None = None, measure_memory: bool = True,
            log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """One flat dict per cell of ``grid`` (see :data:`dcl.reproduce.report.CSV_FIELDS`).

    Parameter counts and memory are measured (and cached) for the ``selected`` cells only
    (all when None); other cells show them when the cache has them.
    """
    t = grid.table
    rows = []
    for cell in grid.cells:
        sel = selected is None or (cell.row.key, cell.col.key) in selected
        status, done = cell_status(cell, grid.out)
        if not sel and status == "not run":
            status = "not selected"
        rec: dict[str, Any] = {
            "table": t.name, "source": t.source, "row": cell.row.key, "col": cell.col.key,
            "row_label": cell.row.label, "col_label": cell.col.label, "method": cell.settings.get("method"),
            "arch": cell.runs[0].cfg.arch if cell.runs else cell.settings.get("arch"),
            "data": cell.settings.get("data"), "metric": cell.metric if t.kind == "train" else "",
            "status": status if t.kind == "train" else (cell.problem or "measured"),
            "seeds": grid.seeds, "seeds_done": len(done),
            "paper_epochs": cell.paper_epochs, "budget": grid.budget.name,
        }
        if t.kind == "train":
            _add_errors(rec, cell, done, grid, data_dir, device)
        _add_paper(rec, cell)
        _add_costs(rec, cell, done, grid, cache, sel, measure_memory, log)
        if t.kind != "train" and cell.problem is None and rec.get("memory_mib") is None:
            rec["status"] = "not measured" if sel else "not selected"
        _add_provenance(rec, done, grid.out)
        rows.append(rec)
    return rows


def _add_errors(rec, cell: Cell, done, grid: Grid, data_dir, device) -> None:
    values: list[MetricValue] = []
    for r in done:
        try:
            values.append(read_metric(cell.metric, r.folder(grid.out), data_dir=data_dir, device=device))
        except DCLError as e:
            rec["status"] = f"metric failed: {e}"
    finals = [v.final for v in values if v.final is not None]
    bests = [v.best for v in values if v.best is not None]
    rec["final_mean"], rec["final_std"] = mean_std(finals)
    rec["best_mean"], rec["best_std"] = mean_std(bests)
    rec["best_epochs"] = " ".join(str(v.best_epoch) for v in values if v.best_epoch is not None)
    epochs = sorted({r.cfg.epochs for r in done}) or sorted({r.cfg.epochs for r in cell.runs})
    rec["epochs"] = " ".join(map(str, epochs))


def _add_paper(rec, cell: Cell) -> None:
    t = cell.table
    err = t.paper_value(cell.row.key, cell.col.key, "err")
    rec["paper"] = err.value if err else None
    rec["paper_std"] = err.std if err else None
    rec["paper_replicated"] = bool(err and err.replicated)
    rec["paper_source"] = "; ".join(v.source for k, v in t.numbers.items() if k[:2] == (cell.row.key, cell.col.key))
    ours = rec.get("best_mean") if rec.get("best_mean") is not None else rec.get("final_mean")
    rec["diff"] = ours - err.value if (err and ours is not None) else None
    for q in ("params", "dparams", "memory"):
        v = t.paper_value(cell.row.key, cell.col.key, q)
        rec[f"paper_{q}"] = v.value if v else None
        rec[f"paper_{q}_printed"] = v.printed if v else None
    if not t.printed:
        rec["paper_source"] = f"{t.source} (an image: no printed values)"


def _add_costs(rec, cell: Cell, done, grid: Grid, cache, selected: bool, measure_memory: bool, log) -> None:
    t = grid.table
    rec["params"] = rec["delta_params"] = rec["memory_mib"] = rec["memory_kind"] = None
    summaries = [_summary(cell, grid.out, r) for r in done]
    summaries = [s for s in summaries if s]
    if summaries:
        rec["params"], rec["delta_params"] = summaries[0].get("params"), summaries[0].get("delta_params")
    if not cell.runs or (cell.problem is not None and not cell.problem.startswith("no data")):
        return
    cfg = cell.runs[0].cfg
    wants_params = any(q in t.values for q in ("params", "dparams"))
    if rec["params"] is None and wants_params:
        try:
            rec.update(param_counts(cfg, cache, compute=selected) or {})
        except DCLError as e:
            rec["status"] += f"; params: {e}"
    if t.has_memory:
        batch = t.batch_size or cfg.batch_size
        try:
            m = memory(cfg, batch, cache, log, compute=selected and measure_memory)
            if m:
                cuda = m.get("cuda_peak_mb")
                rec["memory_mib"] = cuda if cuda is not None else m.get("peak_memory_mb")
                rec["memory_accounted_mib"] = m.get("peak_memory_mb")
                rec["memory_kind"] = "cuda max allocated" if cuda is not None else "accounted (CPU)"
                rec["memory_batch"] = batch
                if rec["delta_params"] is None:
                    rec["params"], rec["delta_params"] = m.get("params"), m.get("delta_params")
        except DCLError as e:
            rec["status"] += f"; memory: {e}"


def run_wall_seconds(run_dir: Path) -> float | None:
    """Wall time of one run over all its sessions (seconds): the recorded sessions' wall time,
    plus, for epochs no recorded session covers (a session killed before it could record its
    end, a run trained elsewhere and adopted), their per-epoch ``seconds`` in metrics.jsonl.
    None when neither is there."""
    sessions = read_provenance(run_dir)
    timed = [s for s in sessions if s.get("wall_seconds") is not None and s.get("to_epoch") is not None]
    covered = {e for s in timed for e in range(int(s.get("from_epoch") or 0) + 1, int(s["to_epoch"]) + 1)}
    per_epoch = {r.get("epoch"): r.get("seconds") for r in read_history(Path(run_dir) / "train")}
    rest = [float(v) for e, v in per_epoch.items() if e not in covered and v is not None]
    if not timed and not rest:
        return None
    return sum(float(s["wall_seconds"]) for s in timed) + sum(rest)


def _add_provenance(rec, done, out: Path) -> None:
    sessions = [s for r in done for s in read_provenance(r.folder(out))]
    rec["runs"] = " ".join(str(r.folder(out).relative_to(out)) for r in done)
    rec["commits"] = " ".join(sorted({str(s.get("commit")) for s in sessions}))
    rec["machines"] = " | ".join(sorted({machine_line(s) for s in sessions}))
    rec["devices"] = " ".join(sorted({str(s.get("gpu") or s.get("device")) for s in sessions}))
    walls = [run_wall_seconds(r.folder(out)) for r in done]
    walls = [w for w in walls if w is not None]
    rec["wall_seconds"] = round(sum(walls), 1) if walls else None
    rec["sessions"] = len(sessions)
    rec["interrupted_sessions"] = sum(1 for s in sessions if "id" in s and s.get("ended") is None)
    loads = [s.get(k) for s in sessions for k in ("loadavg_start", "loadavg_end") if s.get(k) is not None]
    rec["load"] = f"{min(loads):.1f}-{max(loads):.1f}" if loads else ""
