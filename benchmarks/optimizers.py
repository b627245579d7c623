"""AdamW step time of torch's three implementations on our networks' parameters
(docs/benchmarks.md, table S3): single-tensor loop, ``foreach`` (multi-tensor), ``fused``.

    .venv/bin/python benchmarks/optimizers.py [--threads 1]

For each network, one optimizer over all parameters (BP) and one per block (local methods);
random gradients; implementations interleaved, median of 7 rounds of 5 steps.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from dcl import resolve_config
from dcl.data import DATASETS
from dcl.models import build_model

KINDS = {"single-tensor": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"AdamW step, ms (median of 7 x 5 steps), {args.threads} thread(s); 1-min load {os.getloadavg()[0]:.2f}")
    print("| network | params | optimizers | " + " | ".join(KINDS) + " |")
    print("|---|---|---|" + "---|" * len(KINDS))
    for arch in ("fc", "conv", "vgg8b"):
        net = build_model(resolve_config(arch=arch, data="cifar10"), DATASETS.get("cifar10"))
        blocks = [list(b.parameters()) for b in net.blocks] + [list(net.head.parameters())]
        n = sum(p.numel() for p in net.parameters())
        for p in net.parameters():
            p.grad = torch.randn_like(p)
        for per_block in (False, True):
            groups = blocks if per_block else [[p for b in blocks for p in b]]
            opts = {k: [torch.optim.AdamW(g, lr=1e-3, weight_decay=0.01, **kw) for g in groups]
                    for k, kw in KINDS.items()}
            times = {k: [] for k in KINDS}
            for _ in range(7):
                for k in KINDS:
                    t = time.perf_counter()
                    for _ in range(5):
                        for o in opts[k]:
                            o.step()
                    times[k].append((time.perf_counter() - t) / 5)
            cells = [f"{statistics.median(v) * 1e3:.1f}" for v in times.values()]
            print(f"| {arch} | {n:,} | {len(groups)} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
