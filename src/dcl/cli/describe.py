"""``dcl describe``: a network's local modules, output shapes, K, parameters and Δθ under a method."""
from __future__ import annotations

from typing import Any

from ..config import merge_options, parse_set_options
from ._common import print_json, table


def add_parser(sub) -> None:
    p = sub.add_parser("describe", help="show a network's modules, output shapes, K, parameters and Δθ",
                       description="Describe ARCH built for DATA and trained by METHOD: every local module "
                                   "with its output shape, layout, K and C, the head, the parameter count, "
                                   "Δθ against BP and the dictionary. Needs no data on disk.")
    p.add_argument("--arch", required=True, help="architecture (dcl list archs)")
    p.add_argument("--data", help="dataset whose input shape and classes to use (dcl list datasets)")
    p.add_argument("--method", help="training method (dcl list methods); default dcl")
    p.add_argument("--preset", help="named hyperparameter preset (dcl list presets)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field, e.g. --set dict_dim=1024")
    p.add_argument("--stages", type=int, help="also measure every block's step time and show the split into S "
                                               "pipeline stages that dcl train --stages S would use")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..config.catalog import check_name
    for kind, name in (("archs", args.arch), ("datasets", args.data), ("methods", args.method),
                       ("presets", args.preset)):
        if name is not None:
            check_name(kind, name)  # a misspelt name fails before torch is imported
    from ..analysis.structure import describe
    fields = merge_options(dict(arch=args.arch, data=args.data, method=args.method, preset=args.preset),
                           parse_set_options(args.set))
    d = describe(fields.pop("arch"), fields.pop("data", None), fields.pop("method", None),
                 preset=fields.pop("preset", None), **fields)
    if args.stages:
        from ..parallel.standalone import describe_split
        d["pipeline"] = describe_split(d["arch"], d["data"], d["method"], args.stages, preset=args.preset, **fields)
    if args.json:
        print_json(d)
    else:
        print(format_description(d))
        if args.stages:
            from ..parallel.plan import format_split
            print(format_split(d["pipeline"]))
    return 0


def format_description(d: dict[str, Any]) -> str:
    """The text form of :func:`dcl.analysis.structure.describe`'s dict."""
    shape = "x".join(map(str, d["in_shape"]))
    lines = [f"{d['arch']} on {d['data']} (input {shape}, {d['num_classes']} classes), method {d['method']}"
             + (f" (preset {d['preset']})" if d.get("preset") else "")]
    rows = []
    frozen = any(m.get("frozen") for m in d["modules"])
    for m in d["modules"]:
        shape = "x".join(map(str, m["output_shape"])) if m["output_shape"] is not None else "-"
        rows.append([m["index"] if m["index"] is not None and m["name"] != "head" else m["name"], m["layers"], shape,
                     m["layout"] or "-", m["K"] if m["K"] is not None else "-", m["C"] if m["C"] is not None else "-",
                     f"{m['params']:,}"] + ([f"{m.get('frozen', 0):,}"] if frozen else []))
    lines.append(table(rows, ["#", "layers", "output", "layout", "K", "C", "params"] + (["frozen"] if frozen else [])))
    for dct in d["dictionaries"]:
        kind = "adaptive, trained" if dct["trainable"] else "static, not trained"
        lines.append(f"{dct['name']}: {'x'.join(map(str, dct['shape']))} ({kind})")
    n_blocks = sum(1 for m in d["modules"] if m["name"].startswith("block "))
    how = "each with its own local loss" if d["local"] else "trained end to end"
    lines.append(f"{n_blocks} block{'s' if n_blocks != 1 else ''} {how} + head")
    lines.append(f"params {d['params']:,} = network {d['params_network']:,} (as under BP) + Δθ {d['delta_params']:,}")
    if d.get("params_frozen") or d.get("params_feedback"):
        lines.append(f"by kind: trainable {d['params_trainable']:,}, frozen random {d['params_frozen']:,}, "
                     f"fixed feedback {d['params_feedback']:,}")
    return "\n".join(lines)
