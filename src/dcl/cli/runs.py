"""``dcl runs``: one table of run folders (sort, filter), and their learning curves as a PNG.

    dcl runs                                   every run under runs/
    dcl runs runs/a runs/b --sort best_test_error --filter method=dcl*
    dcl runs runs/ --plot curves.png           head/block test error and train loss per epoch
"""
from __future__ import annotations

from ._common import print_json, table


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="compare run folders in one table; --plot draws their learning curves",
                       description="Every folder holding summary.json under DIR... (default runs/): arch, data, "
                                   "method, epochs, final / best test error, best epoch, test error at the best "
                                   "validation epoch, samples/s, peak memory.")
    p.add_argument("dirs", nargs="*", default=["runs"], metavar="DIR", help="run folders or folders holding them")
    p.add_argument("--sort", metavar="COLUMN", help="sort by a summary field, e.g. best_test_error; --sort=-COLUMN: descending")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=PATTERN",
                   help="keep runs whose field matches, e.g. method=dcl*, arch=fc, epochs>2 (repeatable)")
    p.add_argument("--plot", metavar="FILE.png", help="draw the runs' learning curves into FILE.png")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.compare import filter_rows, find_runs, run_rows, runs_table, sort_rows
    rows = sort_rows(filter_rows(run_rows(find_runs(args.dirs)), args.filter), args.sort)
    if args.json:
        print_json(rows)
    elif rows:
        header, cells = runs_table(rows)
        print(table(cells, header))
    else:
        print("no runs found")
    if args.plot:
        from ..analysis.curves import plot_runs
        path = plot_runs([r["run"] for r in rows], args.plot)
        if not args.json:
            print(f"wrote {path}")
    return 0
