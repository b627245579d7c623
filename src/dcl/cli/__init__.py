"""The ``dcl`` command line: a thin layer over the Python API.

Each module in this package adds one subcommand through ``add_parser(subparsers)``, setting
``func`` to a function ``(args) -> int``. A :class:`~dcl.errors.DCLError` (a user mistake)
is printed as one line and exits with status 2; so are argument errors.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings

from ..errors import DCLError, DCLNote, one_line


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(prog="dcl", description="Dictionary Contrastive Learning and local supervision.")
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"dcl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", DCLNote)
            show = warnings.showwarning

            def show_note(message, category, *rest, **kw):  # a DCLNote is one line on stderr
                if issubclass(category, DCLNote):
                    print(f"dcl {args.command}: note: {message}", file=sys.stderr)
                else:
                    show(message, category, *rest, **kw)

            warnings.showwarning = show_note
            if getattr(args, "plugin", None):  # methods, networks, datasets of the user's own
                from ..plugins import load_plugins
                load_plugins(args.plugin)
            return int(args.func(args) or 0)
    except DCLError as e:
        print(f"dcl {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dcl {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dcl ... | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run() -> None:
    sys.exit(main())
