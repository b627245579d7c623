"""Accounted training memory of each leanness change, before/after (docs/benchmarks.md, table M2).

    .venv/bin/python benchmarks/memory_ablation.py [--arch vgg8b] [--data cifar10] [--batch-size 128]

Deterministic (no timing): for each variant, BP and DCL take one step, then one measured step
under dcl.bench.TrainingMemoryMeter. Variants:

* ``before``        the loops as first written: BP zeroes gradients after its forward, the local
                    loop before each block's backward (so every gradient lives until overwritten);
* ``lean loops``    gradients dropped right after each optimizer step (methods/local.py, bp.py);
* ``+ lean pool``   max-pool keeps no int64 indices (recomputed in backward; models/layers.py);
* ``+ lean dropout`` dropout keeps a 1-byte mask instead of a float32 one;
* ``+ both``.
"""
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torch import nn

from dcl.bench import account_memory, bench_config, build_bench_run
from dcl.methods.bp import Backprop
from dcl.methods.local import LocalMethod
from dcl.models import layers


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


def swap(net: nn.Module, pool: bool, drop: bool) -> None:
    """Set the network's pooling/dropout layers to the lean or the plain torch kind."""
    for mod in net.modules():
        for name, child in list(mod.named_children()):
            if isinstance(child, (nn.MaxPool2d, layers.LeanMaxPool2d)):
                k = child.kernel_size
                setattr(mod, name, layers.LeanMaxPool2d(k) if pool else nn.MaxPool2d(k))
            elif isinstance(child, (nn.Dropout, layers.LeanDropout)):
                setattr(mod, name, layers.LeanDropout(child.p) if drop else nn.Dropout(child.p))


VARIANTS = [
    ("before", dict(old=True, pool=False, drop=False)),
    ("lean loops", dict(old=False, pool=False, drop=False)),
    ("+ lean pool", dict(old=False, pool=True, drop=False)),
    ("+ lean dropout", dict(old=False, pool=False, drop=True)),
    ("+ both", dict(old=False, pool=True, drop=True)),
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
    steps = {LocalMethod: LocalMethod.train_step, Backprop: Backprop.train_step}
    for name, v in VARIANTS:
        LocalMethod.train_step = old_local_step if v["old"] else steps[LocalMethod]
        Backprop.train_step = old_bp_step if v["old"] else steps[Backprop]
        res = {}
        for m in methods:
            run, x, y = build_bench_run(bench_config(args.arch, args.data, m, args.batch_size))
            swap(run.net, v["pool"], v["drop"])
            run.method.train_step(x, y)
            res[m] = account_memory(run, x, y)
        cells = [f"{res[m]['peak_memory_mb']:.1f} ({res[m]['saved_peak_mb']:.1f})" for m in methods]
        ratios = [f"{res[m]['peak_memory_mb'] / res['bp']['peak_memory_mb']:.3f}" for m in methods if m != "bp"]
        print(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |", flush=True)
    LocalMethod.train_step, Backprop.train_step = steps[LocalMethod], steps[Backprop]
    return 0


if __name__ == "__main__":
    sys.exit(main())
