"""How fast an S-stage local pipeline runs on S devices: a discrete-event simulation.

Inputs are times measured on one device (``dcl bench --stages`` measures them): the training
step of every block (forward, local loss, backward, step; the head on the last block), and a
link's latency and bandwidth. The simulation replays the schedule of :mod:`dcl.parallel.stage`
batch by batch:

* stage s starts batch t when it has finished batch t-1 and batch t has arrived;
* the send of batch t from stage s to s+1 starts when stage s finished it and stage s+1 has
  posted its receive (sends rendezvous; the receiver posts batch t's receive as soon as batch
  t-1 has arrived), and takes ``latency + bytes / bandwidth``;
* before it starts batch t, stage s waits for the send of batch t - 1 - max_in_flight.

One training step of the sequential run takes ``sum(block times)``; the speed-up of S stages
is ``batches * sum(block times) / (simulated time)``. In steady state that is
``sum / max_s(stage time + unhidden transfer)``; the fill and drain of every epoch cost
(S-1) stage times more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .plan import StagePlan, balanced_split


@dataclass(frozen=True)
class Link:
    """A point-to-point link: ``seconds(n) = latency + n / bandwidth``."""

    latency: float          # seconds
    bandwidth: float        # bytes per second

    def seconds(self, nbytes: float) -> float:
        return self.latency + nbytes / self.bandwidth


def simulate(stage_seconds: Sequence[float], send_seconds: Sequence[float], batches: int,
             max_in_flight: int = 2) -> float:
    """Seconds for ``batches`` batches through the pipeline (module doc). ``send_seconds[s]``:
    one batch from stage s to s+1 (S-1 values)."""
    S = len(stage_seconds)
    inf = float("inf")
    finish = [[inf] * batches for _ in range(S)]   # stage s finished computing batch t
    sent = [[inf] * batches for _ in range(S)]     # batch t has arrived at stage s+1
    for t in range(batches):
        for s in range(S):
            start = finish[s][t - 1] if t else 0.0
            if s:
                start = max(start, sent[s - 1][t])
            back = t - 1 - max_in_flight
            if s < S - 1 and back >= 0:
                start = max(start, sent[s][back])
            finish[s][t] = start + stage_seconds[s]
            if s < S - 1:  # the receiver posts batch t's receive when batch t-1 has arrived
                ready = sent[s][t - 1] if t else 0.0
                sent[s][t] = max(finish[s][t], ready) + send_seconds[s]
    return finish[S - 1][batches - 1]


def pipeline_speedup(block_seconds: Sequence[float], boundary_bytes: Sequence[float], stages: int, link: Link,
                     batches: int = 390, max_in_flight: int = 2) -> dict:
    """Predicted speed-up of ``stages`` devices over one, the split balanced on ``block_seconds``.
    ``boundary_bytes[i]``: what block i sends to block i+1 per batch (activations + labels)."""
    counts = balanced_split(block_seconds, stages)
    plan = StagePlan(counts)
    stage_s = [sum(block_seconds[i] for i in plan.blocks(s)) for s in range(stages)]
    send_s = [link.seconds(boundary_bytes[plan.blocks(s)[-1]]) for s in range(stages - 1)]
    total = simulate(stage_s, send_s, batches, max_in_flight)
    sequential = batches * sum(block_seconds)
    return {"stages": stages, "split": list(counts), "stage_ms": [1e3 * t for t in stage_s],
            "send_ms": [1e3 * t for t in send_s], "speedup": sequential / total}
