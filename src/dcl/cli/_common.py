"""Small helpers shared by the subcommands."""
from __future__ import annotations

import json
import sys
from typing import Any


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def stderr_is_a_terminal() -> bool:
    """Progress bars on the command line: only when stderr is a terminal."""
    return sys.stderr.isatty()


def add_data_dir(parser) -> None:
    """The ``--data-dir`` option every data-reading subcommand shares."""
    parser.add_argument("--data-dir", help="dataset folder (default: $DCL_DATA_DIR, else the user cache)")
