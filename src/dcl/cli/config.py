"""``dcl config``: the resolved config as TOML (``show``) and every field (``fields``).

    dcl config show --arch conv --data mnist --set lr=1e-3 > my.toml
    dcl train --config my.toml
    dcl config fields
"""
from __future__ import annotations

from ._common import print_json, table


def add_parser(sub) -> None:
    p = sub.add_parser("config", help="print a resolved config as TOML, or list every config field",
                       description="show: the config `dcl train` would use with these options, as a TOML file "
                                   "`dcl train --config` reads. fields: every TrainConfig field.")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", parser_class=type(p))
    csub.required = True
    s = csub.add_parser("show", help="the resolved config (defaults < preset < --config < --set) as TOML")
    s.add_argument("--arch")
    s.add_argument("--data")
    s.add_argument("--method")
    s.add_argument("--preset")
    s.add_argument("--config", metavar="FILE", help="a TOML config file (or a run folder) to start from")
    s.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    s.set_defaults(func=run_show)
    f = csub.add_parser("fields", help="every config field: section, type, default, meaning")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_fields)


def run_show(args) -> int:
    from ..config import parse_set_options
    from ..config.files import config_to_toml, read_config_file
    from .train import resolve_from_fields
    asked = dict(read_config_file(args.config)) if args.config else {}
    asked.update(parse_set_options(args.set))
    asked.update({k: v for k, v in dict(arch=args.arch, data=args.data, preset=args.preset,
                                        method=args.method).items() if v is not None})
    cfg = resolve_from_fields(asked)
    print(config_to_toml(cfg, f"dcl config: {cfg.arch} on {cfg.data} with {cfg.method} (preset {cfg.preset or '-'})"),
          end="")
    return 0


def run_fields(args) -> int:
    from ..config.files import field_docs, toml_value
    docs = field_docs()
    if args.json:
        print_json([{"name": d.name, "type": d.type, "default": d.default, "section": d.section,
                     "comment": d.comment} for d in docs])
        return 0
    print(table([[d.name, d.type, toml_value(d.default), d.section.split(" (")[0], d.comment] for d in docs],
                ["field", "type", "default", "section / read by", "meaning"]))
    return 0
