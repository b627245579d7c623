"""Interleaved step timing of implementation variants (docs/benchmarks.md, table S2).

    .venv/bin/python benchmarks/speed_ablation.py --arch vgg8b --batch-size 32 --steps 2 --repeats 7 \\
        bp+cl dcl+cl dcl+cl+mean bp+cl+plainpool dcl+cl+plainpool

A variant is METHOD[+OPTION...]; options: ``cl`` channels-last, ``compile`` torch.compile of
every block, ``mean`` the DCL loss averaging positions with ``Tensor.mean`` (before: its
backward writes a full-size gradient) instead of sum / K, and torch's plain layer instead of a
lean one (benchmarks/layer_variants.py): ``plainpool`` (nn.MaxPool2d), ``plainbn`` (BatchNorm +
activation unfused), ``plaindrop`` (nn.Dropout / nn.Dropout2d), ``plainln`` (LayerNorm -> Linear
through autograd), ``plain`` (all four). Variants take
turns (order rotated each round, like ``dcl bench``); the median per-step CPU time of the
process and wall time are printed, with each one's ratio to the first variant. One thread by
default: CPU time is then the work done, little disturbed by other processes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

import dcl.losses.dictionary as dictionary
from dcl.bench import bench_config, build_bench_run
from layer_variants import unlean

SUM_MEAN = dictionary._mean


def plain_mean(x, dim):
    return x.mean(dim=dim)


PLAIN = {"plainpool": "pool", "plainbn": "bn", "plaindrop": "drop", "plainln": "ln"}


def build(spec: str, arch: str, data: str, batch: int):
    method, *opts = spec.split("+")
    unknown = set(opts) - {"cl", "compile", "mean", "plain", *PLAIN}
    if unknown:
        raise SystemExit(f"unknown option(s) {sorted(unknown)} in {spec!r}")
    run, x, y = build_bench_run(bench_config(arch, data, method, batch, channels_last="cl" in opts,
                                             compile="compile" in opts))
    plain = set(PLAIN.values()) if "plain" in opts else {PLAIN[o] for o in opts if o in PLAIN}
    unlean(run.net, plain)
    return run, x, y, plain_mean if "mean" in opts else SUM_MEAN


def step(run, x, y, mean_fn) -> None:
    dictionary._mean = mean_fn
    try:
        run.method.train_step(x, y)
    finally:
        dictionary._mean = SUM_MEAN


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--arch", default="vgg8b")
    ap.add_argument("--data", default="cifar10")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = [build(v, args.arch, args.data, args.batch_size) for v in args.variants]
    for r in runs:
        step(*r)  # warm-up (and compilation)
    wall = [[] for _ in runs]
    cpu = [[] for _ in runs]
    load0 = os.getloadavg()[0]
    for rep in range(args.repeats):
        for k in range(len(runs)):
            i = (k + rep) % len(runs)
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                step(*runs[i])
            wall[i].append((time.perf_counter() - t0) / args.steps)
            cpu[i].append((time.process_time() - c0) / args.steps)
    print(f"{args.arch}, {args.data} shape, batch {args.batch_size}, {args.threads} thread(s), "
          f"median of {args.repeats} rounds x {args.steps} steps; 1-min load {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    print("| variant | CPU ms/step | vs first | wall ms/step | vs first |")
    print("|---|---|---|---|---|")
    c_ref, w_ref = statistics.median(cpu[0]), statistics.median(wall[0])
    for v, cs, ws in zip(args.variants, cpu, wall):
        c, w = statistics.median(cs), statistics.median(ws)
        print(f"| {v} | {c * 1e3:.0f} | {c_ref / c:.2f}x | {w * 1e3:.0f} | {w_ref / w:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
