"""``dcl reproduce TABLE``: a table of the paper as a resumable grid of runs, written as
OUT/TABLE.md and OUT/TABLE.csv beside the paper's numbers (see docs/reproduce.md).

    dcl reproduce --list                                   the tables and what each needs
    dcl reproduce table2 --budget short --rows mnist       FC on MNIST, every method, 1/10 of the epochs
    dcl reproduce table4 --rows mnist,cifar10              Δθ and memory of VGG8B (no training)
    dcl reproduce table3 --dry-run                         the grid, with a time estimate per cell
"""
from __future__ import annotations

from ._common import add_data_dir, fmt, print_json, stderr_is_a_terminal, table


def add_parser(sub) -> None:
    p = sub.add_parser("reproduce", help="reproduce a table of the paper: train its grid, write it beside the paper's",
                       description="Every cell of TABLE (method x network x dataset x seed) is a run with the paper's "
                                   "recipe; runs already in OUT are reused and interrupted ones resumed. Writes "
                                   "OUT/TABLE.md and OUT/TABLE.csv with ours next to the paper's numbers.")
    p.add_argument("table", nargs="?", help="table1..table5, tableI..tableV, fig1, fig3, fig4, figII..figV (--list)")
    p.add_argument("--list", action="store_true", help="list the tables and what each needs")
    p.add_argument("--budget", default="paper",
                   help="paper (the paper's epochs), short (1/10 of them), or a fraction in (0, 1]; "
                        "LR milestones are scaled alike (default paper)")
    p.add_argument("--epochs", type=int, help="exactly N epochs per run instead of a budget (milestones scaled)")
    p.add_argument("--seeds", type=int, default=1, help="runs per cell, seeds 0..N-1 (default 1)")
    p.add_argument("--rows", help="comma-separated row keys (datasets or networks; default all)")
    p.add_argument("--cols", help="comma-separated column keys (methods or variants; default all)")
    add_data_dir(p)
    p.add_argument("--out", default="reproduce", help="folder for runs and tables (default ./reproduce)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: the recipe's, cpu)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field of every run, e.g. --set limit_train_batches=10")
    p.add_argument("--dry-run", action="store_true",
                   help="print the grid and an estimated time per cell on this machine; train nothing")
    p.add_argument("--no-timing", action="store_true", help="with --dry-run: skip the timing of training steps")
    p.add_argument("--time-every-cell", action="store_true",
                   help="with --dry-run: time every cell at its own batch size (default: one cell per network and "
                        "input shape, on a small batch, the others estimated from it)")
    p.add_argument("--no-memory", action="store_true", help="do not measure the memory columns")
    p.add_argument("--tflops", type=float, help="with --list: assumed GPU TFLOP/s for the GPU-hours estimate (default 10)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _keys(text: str | None) -> list[str] | None:
    return [k.strip() for k in text.split(",") if k.strip()] if text else None


def run(args) -> int:
    from ..config import parse_set_options
    from ..errors import DCLError
    from ..reproduce import estimate, list_tables, reproduce

    if args.list:
        return _list(list_tables(tflops=args.tflops), args.json)
    if not args.table:
        raise DCLError("name a table (dcl reproduce --list shows them)")
    common = dict(budget=args.budget, epochs=args.epochs, seeds=args.seeds, rows=_keys(args.rows),
                  cols=_keys(args.cols), data_dir=args.data_dir, out=args.out, device=args.device,
                  overrides=parse_set_options(args.set))
    quiet = args.json
    if args.dry_run:
        grid, cells = estimate(args.table, timing=not args.no_timing, every_cell=args.time_every_cell,
                               log=None if quiet else print, **common)
        return _dry_run(grid, cells, args.json)
    res = reproduce(args.table, memory=not args.no_memory,
                    progress=stderr_is_a_terminal() and not args.no_progress and not quiet,
                    log=(lambda s: None) if quiet else print, **common)
    if quiet:
        print_json({"table": res.table, "markdown": str(res.markdown_path), "csv": str(res.csv_path),
                    "counts": res.counts, "wall_seconds": res.wall_seconds, "cells": res.rows})
        return 0
    print()
    print(res.markdown)
    c = res.counts
    if c:
        print(f"runs: {c.get('trained', 0)} trained, {c.get('reused', 0)} reused, {c.get('failed', 0)} failed, "
              f"{c.get('blocked', 0)} waiting; {res.wall_seconds:.0f} s")
    print(f"wrote {res.markdown_path} and {res.csv_path}")
    return 1 if c.get("failed") else 0


def _list(tables, as_json: bool) -> int:
    if as_json:
        print_json(tables)
        return 0
    rows = []
    for t in tables:
        hours = "-" if t["gpu_hours"] is None else f"{t['gpu_hours']:.1f}"
        if t.get("uncounted_runs"):
            hours += f" (+{t['uncounted_runs']} runs not counted)"
        rows.append([t["table"], t["source"] + ("" if t["printed"] else " (image)"), t["cells"],
                     ", ".join(t["datasets"]) or "-", hours, ", ".join(m.split(": ", 1)[-1] for m in t["missing"]) or "-"])
    print(table(rows, ["table", "source", "cells", "datasets", "GPU h (est.)", "not registered yet"]))
    print("GPU h: one seed on the paper's budget, from the networks' FLOPs (3x forward per training sample + the "
          "test pass) at an assumed 10 TFLOP/s; a planning figure, not a measurement. "
          "`dcl reproduce TABLE --dry-run` times the cells on this machine.")
    return 0


def _dry_run(grid, cells, as_json: bool) -> int:
    if as_json:
        print_json({"table": grid.table.name, "budget": grid.budget.describe(), "seeds": grid.seeds, "cells": cells})
        return 0
    rows = []
    total, timed, untimed = 0.0, 0, 0
    for c in cells:
        secs = c.get("seconds")
        total += secs or 0.0
        if c.get("runs"):
            timed, untimed = timed + (secs is not None), untimed + (secs is None)
        rows.append([c["label"], c.get("method", "-"), c.get("arch", "-"),
                     f"{c.get('epochs', '-')}/{c.get('paper_epochs', '-')}", c.get("state") or "-",
                     _duration(c.get("epoch_seconds")), _duration(secs), c.get("estimated_from") or "this cell"
                     if c.get("epoch_seconds") is not None else "-", c.get("problem") or ""])
    print(f"{grid.table.source}: {grid.table.title}\nbudget: {grid.budget.describe()}; seeds: {grid.seeds}; "
          f"runs in {grid.out}/runs")
    print(table(rows, ["cell", "method", "network", "epochs/paper", "state", "per epoch", "remaining", "timed on",
                       "problem"]))
    if timed:
        print(f"estimated remaining time on this machine: {_duration(total)}"
              f"{' for the timed cells' if untimed else ''} (timed on random batches; cells without "
              f"data are timed too)")
    estimated = sum(1 for c in cells if c.get("estimated_from"))
    if estimated:
        print(f"{estimated} cell(s) estimated from the timed cell on the same network, input shape and batch "
              f"(column 'timed on'; --time-every-cell times each)")
    if untimed:
        why = sorted({c["untimed"] for c in cells if c.get("untimed")})
        print(f"{untimed} cell(s) not timed ({'; '.join(why) if why else '--no-timing'})")
    return 0


def _duration(s) -> str:
    if s is None:
        return "-"
    s = float(s)
    if s < 120:
        return f"{fmt(s, 1)} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
