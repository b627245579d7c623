"""``dcl list``: the registered architectures, methods, datasets and presets."""
from __future__ import annotations

from ..errors import choices_error

KINDS = ("archs", "methods", "datasets", "presets")


def registries():
    from ..config import PRESETS
    from ..data import DATASETS
    from ..methods import METHODS
    from ..models import ARCHS
    return {"archs": ARCHS, "methods": METHODS, "datasets": DATASETS, "presets": PRESETS}


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list architectures, methods, datasets and presets")
    p.add_argument("kind", nargs="?", help=f"one of {', '.join(KINDS)} (default: all)")
    p.set_defaults(func=run)


def run(args) -> int:
    regs = registries()
    if args.kind is not None and args.kind not in regs:
        raise choices_error("kind", args.kind, KINDS)
    for kind in [args.kind] if args.kind else KINDS:
        reg = regs[kind]
        print(f"{kind}:")
        width = max(len(n) for n in reg.names())
        for e in reg.entries():
            print(f"  {e.name.ljust(width)}  {e.description}")
    return 0
