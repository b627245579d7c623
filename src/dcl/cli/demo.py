"""``dcl demo``: DCL next to BP on real Fashion-MNIST for a couple of epochs, side by side.
The runs and the table (``table.txt``) go to ``--out`` (default: a new ``runs/demo-TIME``)."""
from __future__ import annotations

import time
from pathlib import Path

from ..reproduce.demo import DEMO_ARCH, DEMO_DATA, DEMO_METHODS
from ._common import add_data_dir, fmt, stderr_is_a_terminal, table


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="train DCL next to BP on Fashion-MNIST and print the results side by side")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--arch", default=DEMO_ARCH)
    p.add_argument("--data", default=DEMO_DATA)
    p.add_argument("--methods", default=",".join(DEMO_METHODS), help="comma-separated methods")
    add_data_dir(p)
    p.add_argument("--out", help="write each run to OUT/METHOD/ and the table to OUT/table.txt "
                                 "(default: runs/demo-YYYYmmdd-HHMMSS)")
    p.add_argument("--overwrite", action="store_true", help="replace runs already in OUT/METHOD/")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..reproduce.demo import run_demo
    methods = [m for m in args.methods.split(",") if m]
    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    rows = run_demo(args.epochs, methods, args.arch, args.data, args.data_dir, out,
                    progress=stderr_is_a_terminal(), log=print, overwrite=args.overwrite)
    text = (f"{args.arch} on {args.data}, {args.epochs} epochs each (paper preset), test error of the final "
            f"classifier:\n" +
            table([[r["method"], fmt(r["test_error"]), fmt(r["best_test_error"]),
                    " ".join(fmt(e) for e in r["layer_test_errors"]) or "-",
                    f"{r['params']:,}", f"{r['delta_params']:,}", fmt(r["train_seconds_per_epoch"], 1),
                    fmt(r["samples_per_second"], 0)] for r in rows],
                  ["method", "test err %", "best %", "block errs %", "params", "Δθ", "train s/epoch", "samples/s"]))
    print()
    print(text)
    from ..engine.checkpoint import atomic_write_text
    atomic_write_text(out / "table.txt", text + "\n")
    print(f"wrote {out}/table.txt (compare the runs: dcl runs {out})")
    return 0
