"""Which blocks each pipeline stage trains: contiguous stages balanced by measured cost.

A pipeline runs at the pace of its slowest stage, so the L-1 blocks are cut into S contiguous
stages that minimise the largest stage cost (the linear-partition problem, solved exactly by
dynamic programming). A block's cost is the measured time of its training step (forward,
local loss, backward, optimizer step) on a random batch of the run's shape, taken on a copy of
the method so the run itself is untouched; the head's step counts towards the last block,
because the head lives on the last stage. ``cfg.stage_split`` fixes the split by hand.

``dcl describe --stages S`` prints the costs and the split (:func:`split_report`,
:func:`dcl.parallel.standalone.describe_split`).
"""
from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..errors import DCLError


@dataclass(frozen=True)
class StagePlan:
    """``counts[s]`` blocks on stage s, in order."""

    counts: tuple[int, ...]

    @property
    def stages(self) -> int:
        return len(self.counts)

    def blocks(self, stage: int) -> range:
        start = sum(self.counts[:stage])
        return range(start, start + self.counts[stage])

    def stage_of(self, block: int) -> int:
        for s in range(self.stages):
            if block in self.blocks(s):
                return s
        raise IndexError(block)


def balanced_split(costs: Sequence[float], stages: int) -> tuple[int, ...]:
    """Blocks per stage: the contiguous split of ``costs`` into ``stages`` non-empty parts with
    the smallest maximum part sum (ties: the earliest cut)."""
    n = len(costs)
    if not 1 <= stages <= n:
        raise DCLError(f"cannot split {n} blocks into {stages} stages (1 to {n} stages)")
    prefix = [0.0]
    for c in costs:
        prefix.append(prefix[-1] + float(c))
    inf = float("inf")
    # best[k][j]: smallest max cost of splitting the first j blocks into k stages
    best = [[inf] * (n + 1) for _ in range(stages + 1)]
    cut = [[0] * (n + 1) for _ in range(stages + 1)]
    best[0][0] = 0.0
    for k in range(1, stages + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                v = max(best[k - 1][i], prefix[j] - prefix[i])
                if v < best[k][j]:
                    best[k][j], cut[k][j] = v, i
    counts, j = [], n
    for k in range(stages, 0, -1):
        i = cut[k][j]
        counts.append(j - i)
        j = i
    return tuple(reversed(counts))


#: the largest batch the split is measured at (costs grow about linearly with the batch; a
#: smaller one keeps the measurement, which the other ranks wait for, short)
MEASURE_BATCH = 64


def block_costs(method, batch_size: int, repeats: int = 2) -> list[float]:
    """Median seconds of one training step of every block of ``method`` (a LocalMethod) on a
    random batch of ``batch_size``, the head's step added to the last block. Runs on a deep
    copy under a forked RNG: the method, its network and the RNG stream are left untouched.
    On CPUs the seconds are the process's CPU time (all its threads), which other processes
    competing for the cores do not inflate; on CUDA, wall time after a synchronize."""
    net = method.net
    device = next(net.parameters()).device
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        m = copy.deepcopy(method)
        m.gradient_sync = None
        x = torch.randn(batch_size, *net.in_shape, device=device)
        y = torch.randint(0, net.num_classes, (batch_size,), device=device)
        times: list[list[float]] = [[] for _ in net.blocks]
        for r in range(repeats + 1):  # the first round warms up
            h = x
            for i in range(len(m.net.blocks)):
                t0 = _now(device)
                h, _ = m.block_step(i, h, y)
                if i == len(net.blocks) - 1:
                    m.train_head(h, y)
                if r:
                    times[i].append(_now(device) - t0)
    return [statistics.median(t) for t in times]


def _now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return time.perf_counter()
    return time.process_time()


def check_split(split: Sequence[int], stages: int, blocks: int) -> tuple[int, ...]:
    split = tuple(int(c) for c in split)
    if len(split) != stages or sum(split) != blocks or min(split) < 1:
        raise DCLError(f"stage_split {','.join(map(str, split))} must give each of the {stages} stages at least "
                       f"one block, {blocks} blocks in all")
    return split


def split_report(method, stages: int, batch_size: int) -> dict[str, Any]:
    """Measured block costs and the balanced split into ``stages`` (``dcl describe --stages``)."""
    n = len(method.net.blocks)
    if not 1 <= stages <= n:
        raise DCLError(f"--stages {stages}: this network has {n} blocks, so 1 to {n} stages")
    batch_size = min(batch_size, MEASURE_BATCH)
    costs = block_costs(method, batch_size)
    counts = balanced_split(costs, stages)
    plan = StagePlan(counts)
    stage_costs = [sum(costs[i] for i in plan.blocks(s)) for s in range(stages)]
    return {"stages": stages, "batch_size": batch_size, "split": list(counts),
            "block_ms": [1e3 * c for c in costs], "stage_ms": [1e3 * c for c in stage_costs],
            "blocks": [[i + 1 for i in plan.blocks(s)] for s in range(stages)],
            "ideal_speedup": sum(costs) / max(stage_costs)}


def format_split(r: dict[str, Any]) -> str:
    lines = [f"pipeline: {r['stages']} stages, blocks per stage {','.join(map(str, r['split']))} "
             f"(balanced by the measured step time per block at batch {r['batch_size']}, head on the last stage)"]
    for s, (blocks, ms) in enumerate(zip(r["blocks"], r["stage_ms"])):
        lines.append(f"  stage {s + 1}: blocks {', '.join(map(str, blocks))}  {ms:.1f} ms/step")
    lines.append(f"  block step times: {', '.join(f'{c:.1f}' for c in r['block_ms'])} ms; "
                 f"compute-bound speed-up at most {r['ideal_speedup']:.2f}x")
    return "\n".join(lines)
