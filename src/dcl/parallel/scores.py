"""Evaluation over ranks: every rank scores its part, then all ranks hold the whole split's scores.

In a pipeline each stage scores its own blocks' layer-wise predictions (and the last stage the
head) for the batches flowing through it; each data-parallel replica scores its part of every
batch. :func:`gather_scores` collects the parts from every rank and assembles, per replica,
the blocks in stage order, then the replicas one after the other, so every rank computes the
same errors (the order of samples does not change an error rate).
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist

from ..evaluate import Scores
from .comm import guard
from .mesh import Mesh


def gather_scores(scores: Scores, mesh: Mesh) -> Scores:
    part = {"stage": mesh.stage, "replica": mesh.replica, "labels": scores.labels, "head": scores.head,
            "head_loss": scores.head_loss, "blocks": scores.blocks, "extra": scores.extra,
            "probes": scores.probes}
    parts: list = [None] * mesh.world
    with guard(mesh.where(), "gathering evaluation scores"):
        dist.all_gather_object(parts, part)
    chains = []
    for r in range(mesh.replicas):
        chain = sorted((p for p in parts if p["replica"] == r), key=lambda p: p["stage"])
        probes = {}
        for p in chain:
            probes.update({k: v for k, v in p["probes"].items() if v.numel()})
        chains.append({"labels": chain[0]["labels"], "head": chain[-1]["head"], "head_loss": chain[-1]["head_loss"],
                       "blocks": [b for p in chain for b in p["blocks"]], "extra": chain[-1]["extra"],
                       "probes": probes})

    def cat(values):
        return torch.cat(values) if values and values[0] is not None else None

    n = [c["labels"].shape[0] for c in chains]
    losses = [c["head_loss"] for c in chains]
    head_loss = (sum(l * k for l, k in zip(losses, n)) / max(sum(n), 1)
                 if not any(math.isnan(l) for l in losses) else float("nan"))
    return Scores(
        labels=cat([c["labels"] for c in chains]),
        head=cat([c["head"] for c in chains]),
        blocks=[cat([c["blocks"][i] for c in chains]) for i in range(len(chains[0]["blocks"]))],
        head_loss=head_loss,
        probes={k: cat([c["probes"][k] for c in chains]) for k in chains[0]["probes"]},
        extra={k: cat([c["extra"][k] for c in chains]) for k in chains[0]["extra"]},
        default=scores.default,
    )
