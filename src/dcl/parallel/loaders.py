"""Each rank's batches: its shard of every global batch, or what the previous stage sent.

* the first stage of replica r reads part r of R of every batch
  (:class:`~dcl.data.BatchLoader` with ``shard=(r, R)``: every replica draws the same global
  batch and augmentation numbers, so the R parts together are the one-process batch);
* a later stage reads the activations and labels its predecessor sends
  (:class:`~dcl.parallel.transfer.ReceiveLoader`), as many batches as the first stage has.

:class:`RankLoader` wraps either: it records the current batch (labels, global size) in a
:class:`BatchSlot` that the gradient averager and the stage's sender read, and at every
epoch's start it seeds this rank's torch RNG (dropout) from ``(seed, epoch, rank)``, so a
resumed run draws the same dropout masks as an uninterrupted one on every rank.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from ..data.loader import BatchLoader, shard_bounds
from .mesh import Mesh
from .transfer import ReceiveLoader


@dataclass
class BatchSlot:
    """The batch this rank is working on: its labels ``y (n,)`` and the global batch size."""

    y: Tensor | None = None
    n_global: int = 0

    @property
    def weight(self) -> float:
        """This rank's share of the global batch, n / n_global (1/R for equal shards)."""
        return self.y.shape[0] / self.n_global if self.n_global else 1.0

    def set(self, y: Tensor, n_global: int) -> None:
        self.y, self.n_global = y, int(n_global)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % (2 ** 63)


class RankLoader:
    """This rank's loader (module doc); iterates ``(x, y)`` like the engine's loaders."""

    def __init__(self, inner, mesh: Mesh, slot: BatchSlot, *, seed: int, reseed: bool):
        self.inner, self.mesh, self.slot = inner, mesh, slot
        self.seed, self.reseed = seed, reseed

    def __len__(self) -> int:
        return len(self.inner)

    def set_epoch(self, epoch: int) -> None:
        if self.reseed:
            torch.manual_seed(epoch_seed(self.seed, epoch, self.mesh.rank))
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if isinstance(self.inner, ReceiveLoader):  # it reports each batch through on_batch
            yield from self.inner
            return
        sharded = isinstance(self.inner, BatchLoader) and self.inner.shard is not None
        for bi, (x, y) in enumerate(self.inner):
            if sharded:
                n_global = self.inner.global_batch_size(bi)
            else:  # any other loader (a user's): every replica reads the whole batch, keeps its part
                n_global = y.shape[0]
                if self.mesh.replicas > 1:
                    a, b = shard_bounds(n_global, self.mesh.replica, self.mesh.replicas)
                    x, y = x[a:b], y[a:b]
            self.slot.set(y, n_global)
            yield x, y


def local_sizes(loader: BatchLoader) -> list[int]:
    """The number of samples of every batch this rank's shard of ``loader`` yields."""
    index, count = loader.shard or (0, 1)
    bounds = (shard_bounds(loader.global_batch_size(bi), index, count) for bi in range(len(loader)))
    return [b - a for a, b in bounds]


def rank_loader(loader, mesh: Mesh, slot: BatchSlot, *, seed: int, train: bool, channels_last: bool = False,
                on_start=None):
    """Wrap the engine's ``loader`` for this rank: shard it (first stage) or replace it by the
    batches received from the previous stage (later stages; ``on_start`` runs before the first)."""
    if isinstance(loader, BatchLoader) and mesh.replicas > 1:
        loader.shard = (mesh.replica, mesh.replicas)
    if not mesh.is_first:
        sizes = local_sizes(loader) if isinstance(loader, BatchLoader) else None  # known: receive early
        loader = ReceiveLoader(mesh, mesh.rank_of(mesh.stage - 1), len(loader), channels_last=channels_last,
                               on_batch=slot.set, on_start=on_start, sizes=sizes)
    return RankLoader(loader, mesh, slot, seed=seed, reseed=train)
