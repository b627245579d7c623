"""What the fused LayerNorm-Linear can save on the FC network's block 2: CPU time of its parts.

    .venv/bin/python benchmarks/fc_bound.py [--batch-size 128] [--width 3072] [--repeats 7]

Times, on one thread, interleaved, median of ``--repeats`` (process CPU time, 3 calls each):

* ``plain``: ``LayerNorm(D) -> Linear(D, D)`` forward + backward through autograd on a detached
  input (what a local block did before: the Linear's input gradient is computed to reach the
  LayerNorm's gamma and beta);
* ``fused``: the same through :func:`dcl.models.fused.layer_norm_linear` (same gradients);
* ``forward``: the forward alone; ``wgrad``: the one weight-gradient product ``G^T x`` (O, D);
  ``dgrad``: the input-gradient product ``G W`` (B, D) that the fused layer avoids;
* ``fused extra``: the fused backward's element-wise work over the (O, D) weight gradient
  (``dgamma = sum_i W_ij A_ij`` and ``dW += (G^T 1) beta^T``, in row chunks).

The fused layer saves ``dgrad`` and pays ``fused extra``; docs/benchmarks.md, "FC".
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from dcl.models.fused import layer_norm_linear


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--width", type=int, default=3072)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    b, d = args.batch_size, args.width
    norm, lin = nn.LayerNorm(d), nn.Linear(d, d)
    x, g = torch.randn(b, d), torch.randn(b, d)
    a, w, g1, beta = torch.randn(d, d), lin.weight.detach(), torch.randn(d), torch.randn(d)
    params = [*norm.parameters(), *lin.parameters()]

    def fused_extra():  # the element-wise half of _LayerNormLinear.backward, as written there
        dg = torch.zeros(d)
        rows = max(1, (1 << 20) // (4 * d))
        for r in range(0, d, rows):
            a_c = a[r:r + rows]
            dg.add_(torch.mul(w[r:r + rows], a_c).sum(0))
            a_c.addr_(g1[r:r + rows], beta)

    def forward():
        with torch.no_grad():
            lin(norm(x))

    parts = {
        "plain": lambda: lin(norm(x)).backward(g),
        "fused": lambda: layer_norm_linear(x, norm, lin).backward(g),
        "forward": forward,
        "wgrad": lambda: g.t().mm(x),
        "dgrad": lambda: g.mm(w),
        "fused extra": fused_extra,
    }
    times: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(args.repeats):
        for name, fn in parts.items():
            for p in params:
                p.grad = None
            t = time.process_time()
            for _ in range(3):
                fn()
            times[name].append((time.process_time() - t) / 3 * 1e3)
    load = open("/proc/loadavg").read().split()[0] if sys.platform.startswith("linux") else "?"
    print(f"LayerNorm({d}) -> Linear({d}, {d}), batch {b}, 1 thread, CPU ms (median of {args.repeats}); "
          f"1-min load {load}")
    print("| part | CPU ms |\n|---|---|")
    for name, v in times.items():
        print(f"| {name} | {statistics.median(v):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
