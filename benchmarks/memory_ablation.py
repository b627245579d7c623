"""Accounted training memory of each leanness change, before/after (docs/benchmarks.md, table M1).

    .venv/bin/python benchmarks/memory_ablation.py [--arch vgg8b] [--data cifar10] [--batch-size 128]

Deterministic (no timing): for each variant, each method takes one step, then one measured step
under dcl.bench.TrainingMemoryMeter. Variants (layer switches: benchmarks/layer_variants.py):

* ``before``          the loops as first written (BP zeroes gradients after its forward, the local
                      loop before each block's backward) with torch's plain layers;
* ``plain layers``    the lean loops (gradients dropped right after each step) with torch's layers
                      (``lean_layers=false``);
* ``+ 2-bit pool``, ``+ fused BN-act``, ``+ 1-byte dropout``, ``+ fused LN-Linear``: one lean
  layer each;
* ``lean layers``     all of them (the default).
"""
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from dcl.bench import account_memory, bench_config, build_bench_run
from dcl.methods.bp import Backprop
from dcl.methods.local import LocalMethod
from layer_variants import OPTIONS, unlean


def old_local_step(self, x, y):
    h = x
    for i, (block, opt) in enumerate(zip(self.net.blocks, self.block_opts)):
        out = block(h)
        loss = self.block_loss(i, out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        h = out.detach()
        del out, loss
    loss = F.cross_entropy(self.net.head(h), y)
    self.head_opt.zero_grad(set_to_none=True)
    loss.backward()
    self.head_opt.step()
    return {"loss": loss.detach()}


def old_bp_step(self, x, y):
    loss = F.cross_entropy(self.net(x), y)
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    self.opt.step()
    return {"loss": loss.detach()}


ALL = set(OPTIONS)
VARIANTS = [
    ("before", dict(old=True, plain=ALL)),
    ("plain layers", dict(old=False, plain=ALL)),
    ("+ 2-bit pool", dict(old=False, plain=ALL - {"pool"})),
    ("+ fused BN-act", dict(old=False, plain=ALL - {"bn"})),
    ("+ 1-byte dropout", dict(old=False, plain=ALL - {"drop"})),
    ("+ fused LN-Linear", dict(old=False, plain=ALL - {"ln"})),
    ("lean layers (default)", dict(old=False, plain=set())),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="vgg8b")
    ap.add_argument("--data", default="cifar10")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--methods", default="bp,dcl")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    print(f"{args.arch}, {args.data} shape, batch {args.batch_size}: accounted peak MiB (saved-for-backward MiB)")
    print("| variant | " + " | ".join(methods) + " | " + " | ".join(f"{m}/bp" for m in methods if m != "bp") + " |")
    print("|---" * (1 + len(methods) + len(methods) - 1) + "|")
    steps = {LocalMethod: LocalMethod.update, Backprop: Backprop.update}
    print(f"(1-min load {__import__('os').getloadavg()[0]:.2f}; memory figures do not depend on it)")
    for name, v in VARIANTS:
        LocalMethod.update = old_local_step if v["old"] else steps[LocalMethod]
        Backprop.update = old_bp_step if v["old"] else steps[Backprop]
        res = {}
        for m in methods:
            run, x, y = build_bench_run(bench_config(args.arch, args.data, m, args.batch_size))
            unlean(run.net, v["plain"])
            run.method.train_step(x, y)
            res[m] = account_memory(run, x, y)
        cells = [f"{res[m]['peak_memory_mb']:.1f} ({res[m]['saved_peak_mb']:.1f})" for m in methods]
        ratios = [f"{res[m]['peak_memory_mb'] / res['bp']['peak_memory_mb']:.3f}" for m in methods if m != "bp"]
        print(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |", flush=True)
    LocalMethod.update, Backprop.update = steps[LocalMethod], steps[Backprop]
    return 0


if __name__ == "__main__":
    sys.exit(main())
