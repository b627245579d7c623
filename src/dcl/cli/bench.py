"""``dcl bench``: training throughput and memory of methods side by side (see docs/benchmarks.md).

    dcl bench --arch conv --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s
    dcl bench --arch vgg8b --data cifar10 --batch-size 128 --methods bp,bp-ckpt,bp-accum,dcl,dcl-s --frontier
"""
from __future__ import annotations

from ..errors import DCLError
from ._common import print_json


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time and measure the memory of training methods side by side",
                       description="Train every method of --methods on random batches shaped like --data "
                                   "(no data files needed), interleaved in one run; print throughput, accounted "
                                   "peak memory (saved-for-backward + weights + grads + optimizer state), "
                                   "fresh-process peak RSS / CUDA peak, and each figure's ratio to bp. "
                                   "--frontier: every method at several micro-batch counts, the memory-throughput "
                                   "frontier as a table and a PNG.")
    p.add_argument("--arch", required=True, help="architecture (dcl list archs)")
    p.add_argument("--data", required=True, help="dataset whose input shape and classes to use (dcl list datasets)")
    p.add_argument("--batch-size", type=int, required=True, help="(effective) batch size")
    p.add_argument("--methods", help="comma-separated methods (default bp,dcl,dcl-s; with --stages: dcl)")
    p.add_argument("--steps", type=int, default=3, help="steps per timed round (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per method first (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds; the median is reported (default 5)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's, usually the core count)")
    p.add_argument("--compile", action="store_true", help="torch.compile every block (cfg.compile)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only; cfg.amp)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format (cfg.channels_last)")
    p.add_argument("--no-isolated", action="store_true",
                   help="skip the fresh-process peak RSS / CUDA measurement of each method")
    p.add_argument("--frontier", action="store_true",
                   help="run every method at each micro-batch count of --micro-batches and print the "
                        "memory-throughput frontier (bp-accum, bp-ckpt, dcl*: micro-batches; bp: whole batches)")
    p.add_argument("--micro-batches", default="1,2,4,8", metavar="M,M,...",
                   help="micro-batch counts of the frontier (default 1,2,4,8)")
    p.add_argument("--plot", metavar="PNG", help="where --frontier draws its PNG "
                                                 "(default frontier-ARCH-DATA-bBATCH.png)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field of every method, e.g. --set dropout=0")
    p.add_argument("--stages", metavar="S,S,..", help="pipeline stage counts, e.g. 1,2,4: throughput, idle fraction "
                                                      "and bytes sent per stage count (dcl.parallel.bench)")
    p.add_argument("--replicas", type=int, help="data-parallel ranks: throughput with and without overlapping the "
                                                 "gradient all-reduce (dcl.parallel.bench)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per method")
    p.set_defaults(func=run)


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise DCLError(f"--micro-batches must be comma-separated integers such as 1,2,4,8, got {text!r}") from None


def run(args) -> int:
    import sys

    from ..config import merge_options, parse_set_options, resolve_config

    overrides = parse_set_options(args.set)
    named = dict(arch=args.arch, data=args.data, batch_size=args.batch_size, device=args.device,
                 compile=args.compile or None, amp=args.amp or None, channels_last=args.channels_last or None)
    merge_options(named, overrides)  # a field given by a flag and by --set is refused
    if "method" in overrides:
        raise DCLError(f"dcl bench takes no --set method={overrides['method']}; name the methods with --methods")
    parallel = bool(args.stages or args.replicas)
    default = "dcl" if parallel else "bp,dcl,dcl-s"
    methods = [m.strip() for m in (default if args.methods is None else args.methods).split(",") if m.strip()]
    if not methods:
        raise DCLError(f"--methods {args.methods!r} names no method; give comma-separated methods such as "
                       f"{default} (dcl list methods), or leave --methods out for those")
    for method in methods:  # bad names and values fail here, before torch is imported
        resolve_config(arch=args.arch, data=args.data, method=method, batch_size=args.batch_size,
                       device=args.device, **overrides)
    from ..bench import format_frontier, format_table, plot_frontier, run_benchmark, run_frontier
    if args.channels_last:
        overrides["channels_last"] = True
    log = None if args.json else print
    if parallel:
        from ..parallel.bench import run_cli
        return run_cli(args, overrides)
    common = dict(steps=args.steps, warmup=args.warmup, repeats=args.repeats, device=args.device,
                  compile=args.compile, amp=args.amp, isolated=not args.no_isolated, threads=args.threads,
                  overrides=overrides, log=log)
    if not args.frontier:
        if args.plot:
            raise DCLError("--plot draws the --frontier; add --frontier")
        rows = run_benchmark(args.arch, args.data, args.batch_size, methods, **common)
        print_json(rows) if args.json else print(format_table(rows))
        return 0
    result = run_frontier(args.arch, args.data, args.batch_size, methods,
                          _int_list(args.micro_batches), **common)
    print_json(result) if args.json else print(format_frontier(result))
    path = args.plot or f"frontier-{args.arch}-{args.data}-b{args.batch_size}.png"
    try:
        plot_frontier(result, path)
    except DCLError as e:
        print(f"dcl bench: note: {e}", file=sys.stderr)
        return 0
    print(f"frontier drawn to {path}", file=sys.stderr if args.json else sys.stdout)
    return 0
