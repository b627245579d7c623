"""The benchmark half of benchmarks/gpu.sh: dcl bench for VGG8B (CIFAR-10 shape, batch 128) and
ResNet-32 with bp, bp-ckpt, bp-accum, dcl, dcl-s, in fp32 and bf16, in one process.

    .venv/bin/python benchmarks/gpu_bench.py --out DIR            # on a CUDA device
    .venv/bin/python benchmarks/gpu_bench.py --out DIR --dry-run  # CPU, toy sizes (the test suite)

Writes DIR/<arch>-<precision>.json (the rows of dcl.bench.run_benchmark), .txt (its table) and
DIR/summary.md (one line per arch, precision and method, with the CUDA peak of a fresh process
next to the paper's VGG8B figures). On CPU (--dry-run: batch 4, MNIST shape, one step) bf16 runs
as fp32 (autocast is CUDA-only), for ResNet-32 with bp and dcl only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from dcl.bench import Variant, format_table, run_benchmark

METHODS = ("bp", "bp-ckpt", "bp-accum", "dcl", "dcl-s")
ARCHS = ("vgg8b", "resnet32")
#: the paper's GPU memory for VGG8B on CIFAR-10, batch 128 (MiB): BP and DCL
PAPER_MIB = {("vgg8b", "bp"): 1086, ("vgg8b", "dcl"): 747}


def summary_lines(results: dict[tuple[str, str], list[dict]]) -> list[str]:
    lines = ["| arch | precision | method | M | ms/step | samples/s | speed vs bp | accounted MiB | CUDA peak MiB "
             "| CUDA vs bp | paper MiB |", "|" + "---|" * 11]
    for (arch, prec), rows in results.items():
        for r in rows:
            cuda, ratio = r.get("cuda_peak_mb"), r.get("cuda_peak_vs_bp")
            cuda_s = "-" if cuda is None else f"{cuda:,.1f}"
            ratio_s = "-" if ratio is None else f"{ratio:.2f}x"
            lines.append(
                f"| {arch} | {prec} | {r['label']} | {r['micro_batches']} | {r['step_ms']:,.1f} | "
                f"{r['samples_per_second']:,.0f} | {r.get('speedup_vs_bp', 1.0):.2f}x | {r['peak_memory_mb']:,.1f} | "
                f"{cuda_s} | {ratio_s} | {PAPER_MIB.get((arch, r['method']), '-')} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for the JSON, tables and summary.md")
    ap.add_argument("--dry-run", action="store_true", help="CPU, batch 4, one step: checks the script, not the GPU")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.dry_run:
        device, batch, kw = "cpu", 4, dict(steps=1, warmup=0, repeats=1, isolated=False, threads=1)
        data = "mnist"  # 28 px: the same networks, smaller
        # batch 4: bp-accum in 2 micro-batches (its default 4 would leave 1 sample per part under BatchNorm)
        variants = [Variant(m, m, {"micro_batches": 2} if m == "bp-accum" else {}) for m in METHODS]
    else:
        device, batch, kw = "cuda", 128, dict(steps=20, warmup=3, repeats=5, isolated=True)
        data = "cifar10"
        variants = [Variant(m, m) for m in METHODS]
    results = {}
    t0 = time.perf_counter()
    for arch in ARCHS:
        for prec in ("fp32", "bf16"):
            if args.dry_run and prec == "bf16" and arch != "resnet32":
                continue  # on CPU bf16 runs as fp32: once (the cheap network) is enough to check the script
            amp = prec == "bf16" and device == "cuda"
            print(f"== {arch} {prec}{' (dry run: fp32 on CPU)' if prec == 'bf16' and not amp else ''}", flush=True)
            run_variants = variants
            if args.dry_run and prec == "bf16":  # fp32 again on CPU: bp and dcl suffice to check the loop
                run_variants = [v for v in variants if v.method in ("bp", "dcl")]
            rows = run_benchmark(arch, data, batch, variants=run_variants, device=device, amp=amp, log=print, **kw)
            for r in rows:
                r["precision"] = prec
            results[(arch, prec)] = rows
            name = f"{arch}-{prec}"
            (out / f"{name}.json").write_text(json.dumps(rows, indent=1))
            (out / f"{name}.txt").write_text(format_table(rows) + "\n")
            print(format_table(rows), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    head = [f"# dcl bench on {device}{' (dry run)' if args.dry_run else ''}: {', '.join(ARCHS)}, batch {batch}, "
            f"{data} shape; {time.perf_counter() - t0:.0f} s; 1-min load {load}", ""]
    (out / "summary.md").write_text("\n".join(head + summary_lines(results)) + "\n")
    print("\n".join(summary_lines(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
