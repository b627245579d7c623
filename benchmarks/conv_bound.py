"""The most DCL can gain over BP from skipping input gradients, from the convolution kernels alone
(docs/benchmarks.md, table S4).

    .venv/bin/python benchmarks/conv_bound.py --arch vgg8b --batch-size 128 [--channels-last]

A local block's input does not require grad, so DCL skips each block's input-gradient
convolution (dgrad); forward and weight-gradient (wgrad) convolutions are the same work for both.
For every convolution of the network, at its real shapes, this times the three kernels
(``aten::convolution`` and ``aten::convolution_backward`` with only the input / only the
weight+bias gradient), interleaved, median of 5. With every other op free, BP / DCL could
be at most  sum(F + W + D) / sum(F + W)  (BP needs no dgrad for the first convolution either).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch import nn

from dcl import resolve_config
from dcl.data import DATASETS
from dcl.models import build_model


def conv_shapes(net: nn.Module, x: torch.Tensor) -> list[tuple[nn.Conv2d, torch.Tensor, torch.Tensor]]:
    found = []
    hooks = [m.register_forward_hook(lambda m, i, o: found.append((m, i[0].detach(), o.detach())))
             for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net.eval()(x)
    for h in hooks:
        h.remove()
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="vgg8b")
    ap.add_argument("--data", default="cifar10")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = DATASETS.get(args.data)
    net = build_model(resolve_config(arch=args.arch, data=args.data), spec)
    x = torch.randn(args.batch_size, *spec.in_shape)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        net = net.to(memory_format=fmt)
        x = x.contiguous(memory_format=fmt)
    print(f"{args.arch}, {args.data} shape, batch {args.batch_size}, "
          f"{'channels-last' if args.channels_last else 'NCHW'}, {args.threads} thread(s); "
          f"ms per kernel, median of {args.repeats}; 1-min load {os.getloadavg()[0]:.2f}")
    print("| conv | input | forward F | wgrad W | dgrad D |")
    print("|---|---|---|---|---|")
    tot = {"F": 0.0, "W": 0.0, "D": 0.0}
    for n, (conv, inp, out) in enumerate(conv_shapes(net, x)):
        w, b = conv.weight.detach(), conv.bias.detach() if conv.bias is not None else None
        g = torch.randn_like(out)
        a = (conv.stride, conv.padding, conv.dilation, False, [0, 0], conv.groups)
        bias_sizes = [w.shape[0]] if b is not None else None
        kern = {
            "F": lambda: torch.ops.aten.convolution(inp, w, b, *a),
            "W": lambda: torch.ops.aten.convolution_backward(g, inp, w, bias_sizes, *a, [False, True, b is not None]),
            "D": lambda: torch.ops.aten.convolution_backward(g, inp, w, bias_sizes, *a, [True, False, False]),
        }
        for f in kern.values():
            f()
        t = {k: [] for k in kern}
        for _ in range(args.repeats):
            for k, f in kern.items():
                c = time.perf_counter()
                f()
                t[k].append(time.perf_counter() - c)
        med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        first = n == 0
        tot["F"] += med["F"]
        tot["W"] += med["W"]
        tot["D"] += 0.0 if first else med["D"]
        d = f"({med['D']:.0f}, not needed)" if first else f"{med['D']:.0f}"
        print(f"| {n + 1}: {conv.in_channels}->{conv.out_channels} | {tuple(inp.shape[1:])} | "
              f"{med['F']:.0f} | {med['W']:.0f} | {d} |", flush=True)
    bp, dcl = tot["F"] + tot["W"] + tot["D"], tot["F"] + tot["W"]
    print(f"| total | | {tot['F']:.0f} | {tot['W']:.0f} | {tot['D']:.0f} |")
    print(f"\nBP convolutions {bp:.0f} ms, DCL {dcl:.0f} ms: BP/DCL at most {bp / dcl:.2f}x "
          f"(W/F = {tot['W'] / tot['F']:.2f}, D/F = {tot['D'] / tot['F']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
