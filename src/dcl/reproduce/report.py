"""Writing a reproduced table: ``OUT/TABLE.md`` (the paper's grid with ours beside the paper's
numbers, then one line per cell with everything behind it) and ``OUT/TABLE.csv`` (the same
cells, one row each, machine-readable)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..engine.checkpoint import atomic_write_text
from .grid import Grid

CSV_FIELDS = (
    "table", "source", "row", "col", "row_label", "col_label", "method", "arch", "data", "metric", "status",
    "budget", "epochs", "paper_epochs", "seeds", "seeds_done", "final_mean", "final_std", "best_mean", "best_std",
    "best_epochs", "paper", "paper_std", "paper_replicated", "diff", "params", "paper_params", "delta_params",
    "paper_dparams", "memory_mib", "memory_accounted_mib", "memory_kind", "memory_batch", "paper_memory",
    "paper_source", "runs", "commits", "machines", "devices", "wall_seconds", "sessions", "interrupted_sessions", "load",
)


def _num(v: Any, digits: int = 2) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def count(v: Any) -> str:
    """A parameter count as the paper prints it: 1.87M, 152K, 5.12K, 0."""
    if v is None:
        return "-"
    v = float(v)
    for scale, unit in ((1e6, "M"), (1e3, "K")):
        if v >= scale:
            return f"{v / scale:#.3g}".rstrip(".") + unit
    return f"{v:.0f}"


def pm(mean: Any, std: Any, digits: int = 2) -> str:
    if mean is None:
        return "-"
    return _num(mean, digits) + (f" ± {std:.{digits}f}" if std is not None else "")


def paper_err(r: dict[str, Any]) -> str:
    if r.get("paper") is None:
        return "-"
    return ("*" if r.get("paper_replicated") else "") + pm(r["paper"], r.get("paper_std"))


def _mib(v: Any) -> str:
    return "-" if v is None else f"{float(v):,.0f}"


def short_status(r: dict[str, Any]) -> str:
    s = str(r.get("status") or "")
    return "" if s in ("done", "measured") else s


def side_by_side(grid: Grid, rows: list[dict[str, Any]]) -> str:
    """The table in the paper's grid: each cell 'ours / paper' (error: best epoch, mean over
    seeds; cost tables: Δθ and memory)."""
    t = grid.table
    by = {(r["row"], r["col"]): r for r in rows}
    row_keys = list(dict.fromkeys(r["row"] for r in rows))
    col_keys = list(dict.fromkeys(r["col"] for r in rows))
    labels = {r["col"]: r["col_label"] for r in rows}
    lines = ["| | " + " | ".join(labels[c] for c in col_keys) + " |", "|---|" + "---:|" * len(col_keys)]
    for rk in row_keys:
        cells = []
        for ck in col_keys:
            r = by[(rk, ck)]
            parts = []
            if t.kind == "train":
                ours = r.get("best_mean")
                parts.append(f"{_num(ours)} / {paper_err(r)}" if ours is not None
                             else f"({_status_word(r)}) / {paper_err(r)}")
            if "dparams" in t.values:
                parts.append(f"Δθ {count(r.get('delta_params'))} / {r.get('paper_dparams_printed') or '-'}")
            if "params" in t.values:
                parts.append(f"{count(r.get('params'))} / {r.get('paper_params_printed') or '-'}")
            if t.has_memory:
                parts.append(f"{_mib(r.get('memory_mib'))} / {_mib(r.get('paper_memory'))} MiB")
            cells.append("<br>".join(parts))
        lines.append(f"| {by[(rk, col_keys[0])]['row_label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _status_word(r: dict[str, Any]) -> str:
    s = str(r.get("status") or "")
    for word in ("not selected", "not run", "no data", "not registered", "partial", "failed", "not available"):
        if word in s:
            return word
    return s.split(":")[0][:24]


def details(grid: Grid, rows: list[dict[str, Any]]) -> str:
    t = grid.table
    head = ["row", "column", "status"]
    if t.kind == "train":
        head += ["epochs (paper)", "seeds", "ours final", "ours best (epoch)", "paper", "Δ best − paper"]
    if "params" in t.values:
        head += ["params", "paper"]
    head += ["Δθ"] + (["paper Δθ"] if "dparams" in t.values else [])
    if t.has_memory:
        head += ["memory MiB", "kind", "paper MiB"]
    head += ["wall s", "load"] if t.kind == "train" else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        line = [r["row_label"], r["col_label"], short_status(r) or "done"]
        if t.kind == "train":
            line += [f"{r.get('epochs') or '-'} ({_num(r.get('paper_epochs'))})", f"{r['seeds_done']}/{r['seeds']}",
                     pm(r.get("final_mean"), r.get("final_std")),
                     pm(r.get("best_mean"), r.get("best_std")) + (f" ({r['best_epochs']})" if r.get("best_epochs") else ""),
                     paper_err(r), (f"{r['diff']:+.2f}" if r.get("diff") is not None else "-")]
        if "params" in t.values:
            line += [_int(r.get("params")), r.get("paper_params_printed") or "-"]
        line += [_int(r.get("delta_params"))] + ([r.get("paper_dparams_printed") or "-"] if "dparams" in t.values else [])
        if t.has_memory:
            line += [_num(r.get("memory_mib"), 1), r.get("memory_kind") or "-", _mib(r.get("paper_memory"))]
        if t.kind == "train":
            line += [_num(r.get("wall_seconds"), 0), r.get("load") or "-"]
        lines.append("| " + " | ".join(str(c) for c in line) + " |")
    return "\n".join(lines)


def _int(v: Any) -> str:
    return "-" if v is None else f"{int(v):,}"


def provenance(rows: list[dict[str, Any]]) -> str:
    machines = sorted({m for r in rows for m in str(r.get("machines") or "").split(" | ") if m})
    commits = sorted({c for r in rows for c in str(r.get("commits") or "").split() if c})
    out = []
    if machines:
        out.append("Runs made on: " + "; ".join(machines) + ".")
    if commits:
        out.append("Code: dcl commit(s) " + ", ".join(commits) + ".")
    return "\n".join(out)


def markdown(grid: Grid, rows: list[dict[str, Any]], *, command: str, header: dict[str, Any]) -> str:
    t = grid.table
    parts = [f"# {t.source}: {t.title}", "",
             f"Command: `{command}`  ",
             f"Table written {header['written']} on {header['machine']}.  "]
    if t.kind == "train":
        parts.append(f"Budget: {grid.budget.describe()}; {grid.seeds} seed(s) per cell (seeds 0..{grid.seeds - 1})"
                     + (f"; the paper averages {t.paper_seeds} runs" if t.paper_seeds else "") + ".  ")
        parts.append("Ours = mean ± std over seeds of the test error (%) at the final epoch and at the best epoch; "
                     "Δ = ours (best) − paper, as the paper reports the best epoch. "
                     "A * marks the paper's replicated results.  ")
    if t.has_memory:
        parts.append("Memory: peak training memory of one step at batch "
                     f"{t.batch_size or 'the recipe'} from `dcl.bench`; 'accounted (CPU)' = saved-for-backward "
                     "tensors + weights + gradients + optimizer state, counted on the CPU. It is not the paper's GPU "
                     "MiB (no CUDA context, allocator cache or kernel workspaces); on a GPU the column is CUDA's "
                     "max allocated.  ")
    if "dparams" in t.values or "params" in t.values:
        parts.append("Params and Δθ (parameters beyond the same network under BP) are counted on our networks.  ")
    if t.note:
        parts.append(f"Note: {t.note}.  ")
    if not t.printed:
        parts.append("The paper shows this figure as an image: it prints no values to compare with.  ")
    notes = [f"{a.label}: {a.note}" for a in t.rows + t.cols if a.note]
    if notes:
        parts.append("Notes: " + "; ".join(notes) + ".")
    parts += ["", "Rows and columns: " + ("datasets or networks x methods (the paper prints the transpose)"
                                          if t.printed_by == "cols" else "as the paper prints them") + ".", "",
              "## Side by side (ours / paper)", "", side_by_side(grid, rows), "", "## Cells", "", details(grid, rows)]
    prov = provenance(rows)
    if prov:
        parts += ["", "## Provenance", "", prov]
    return "\n".join(parts) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    return buf.getvalue()


def write_table(out: Path, name: str, md: str, csv_text: str) -> tuple[Path, Path]:
    out = Path(out)
    md_path, csv_path = out / f"{name}.md", out / f"{name}.csv"
    atomic_write_text(md_path, md)
    atomic_write_text(csv_path, csv_text)
    return md_path, csv_path
