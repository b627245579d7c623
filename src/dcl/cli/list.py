"""``dcl list``: the registered architectures, methods, datasets and presets."""
from __future__ import annotations

from ..errors import choices_error

KINDS = ("archs", "methods", "datasets", "presets")


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list architectures, methods, datasets and presets")
    p.add_argument("kind", nargs="?", help=f"one of {', '.join(KINDS)} (default: all)")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="import a .py file or module that registers methods, networks or datasets of your own "
                        "(repeatable; a run records it)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..config.catalog import entries  # names and descriptions without importing torch

    if args.kind is not None and args.kind not in KINDS:
        raise choices_error("kind", args.kind, KINDS)
    for kind in [args.kind] if args.kind else KINDS:
        found = entries(kind)
        print(f"{kind}:")
        width = max(len(n) for n, _ in found)
        for name, description in found:
            print(f"  {name.ljust(width)}  {description}")
    return 0
