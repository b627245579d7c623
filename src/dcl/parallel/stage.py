"""The method as one rank runs it: a data-parallel replica, or one stage of a local pipeline.

:class:`ReplicaMethod` wraps any method unchanged (its gradients are averaged in
``Method.gradient_sync``); at the end of every epoch it makes the replicas' BatchNorm running
statistics equal.

:class:`StageMethod` is stage s of S of a :class:`~dcl.methods.local.LocalMethod`. Per batch
(one *tick*) it runs the method's own block step (``LocalMethod.block_step``: forward,
local loss, backward, optimizer step) for each of its blocks, then sends the detached output
and the labels to the next stage, which is already receiving (no gradient ever travels back);
the last stage trains the head (``LocalMethod.train_head``). While stage s trains batch t,
stage s-1 trains batch t+1: the pipeline fills in S-1 ticks and drains at the epoch's end::

    tick      0    1    2    3   ...
    stage 0   b0   b1   b2   b3
    stage 1        b0   b1   b2
    stage 2             b0   b1

A block's input is computed from the blocks before it at their state before this batch's
updates, in the sequential loop as here, and a block's update depends only on its input and
its own parameters, so methods without shared state (dcl-s, dcl-ld, L_feat, ...) compute
exactly the sequential updates. Shared dictionaries: :mod:`dcl.parallel.dictionaries`.
Evaluation runs as the same pipeline (:meth:`StageMethod.predict_batch`).
"""
from __future__ import annotations

import time
import warnings

import torch
from torch import Tensor

from ..errors import DCLError
from ..evaluate import BatchPredictions
from ..methods.base import Method
from ..methods.local import LocalMethod
from .dictionaries import TickSync, check_shared
from .gradients import average_buffers
from .loaders import BatchSlot
from .mesh import Mesh
from .plan import StagePlan
from .state import gather_to_writer
from .transfer import Sender


class ReplicaMethod:
    """A method as a data-parallel replica runs it; everything else is the wrapped method's."""

    def __init__(self, inner: Method, mesh: Mesh, slot: BatchSlot):
        self.inner, self.mesh, self.slot = inner, mesh, slot

    def __getattr__(self, name):  # aux, net, optimizers, state_dict, lr, default_prediction, ...
        return getattr(self.inner, name)

    def train_step(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """As :meth:`Method.train_step`: the batch checked (when ``check_inputs``, on the first
        stage, whose input is a batch), then :meth:`update`."""
        if self.inner.check_inputs and self.mesh.is_first:
            self.inner.check_batch(x, y)
        return self.update(x, y)

    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """The wrapped method's update on this replica's part ``x (b, ...)``, ``y (b,)``."""
        return self.weighted(self.inner.update(x, y))

    def weighted(self, stats: dict[str, Tensor]) -> dict[str, Tensor]:
        """Losses scaled by this replica's share of the batch times R, so that the replicas'
        mean (``Parallel.reduce_epoch``) is the loss of the whole batch, also for unequal parts."""
        w = self.slot.weight * self.mesh.replicas
        if w == 1.0:
            return stats
        return {k: v * w if k in ("loss", "block_losses") else v for k, v in stats.items()}

    def predict_batch(self, x: Tensor, on_block=None) -> BatchPredictions:
        return self.inner.predict_batch(x, on_block)

    def epoch_end(self) -> None:
        average_buffers([self.inner.net, self.inner.aux], self.mesh)
        self.inner.epoch_end()


def check_stageable(method: Method) -> None:
    """Refuse methods whose step cannot be cut between blocks."""
    name = method.cfg.method
    if not isinstance(method, LocalMethod):
        raise DCLError(f"--stages needs a local method (every block trained by its own loss); {name!r} "
                       f"backpropagates through the whole network")
    if type(method).update is not LocalMethod.update or type(method).predict_batch is not Method.predict_batch:
        raise DCLError(f"--stages runs the shared local loop (methods/local.py); {name!r} has its own training "
                       f"step or prediction, so it trains with data parallelism only (--stages 1)")


class StageMethod(ReplicaMethod):
    """Stage ``mesh.stage`` of the pipeline ``plan`` (module doc)."""

    def __init__(self, inner: LocalMethod, mesh: Mesh, slot: BatchSlot, plan: StagePlan, max_in_flight: int):
        super().__init__(inner, mesh, slot)
        check_stageable(inner)
        check_shared(inner, plan)
        self.plan = plan
        self.blocks = plan.blocks(mesh.stage)
        self.sender = None if mesh.is_last else Sender(mesh, mesh.rank_of(mesh.stage + 1), max_in_flight)
        self.sync = TickSync(inner, plan, mesh)
        self.ticks = 0        # batches trained in this epoch
        self.filled = False   # this epoch's fill ticks are done

    def update(self, h: Tensor, y: Tensor) -> dict[str, Tensor]:
        """Train this stage's blocks on ``h`` (the batch, or the previous stage's output) and labels
        ``y (B,)``; send the output on. Returns the head's loss (0 before the last stage) and
        ``block_losses (L-1,)``, zero for other stages' blocks."""
        m = self.inner
        self.fill()
        t0 = time.perf_counter()
        block_losses = torch.zeros(len(m.net.blocks), device=m.device)
        for i in self.blocks:
            h, block_losses[i] = m.block_step(i, h, y)
        if self.sender is not None:
            self.mesh.stats.compute_seconds += time.perf_counter() - t0
            self.sender.send(h, y, self.slot.n_global)
            loss = torch.zeros((), device=m.device)
        else:
            loss = m.train_head(h, y)
            self.mesh.stats.compute_seconds += time.perf_counter() - t0
        if self.sync.active:
            self.sync.tick()
        self.ticks += 1
        self.mesh.stats.steps += 1
        return self.weighted({"loss": loss, "block_losses": block_losses})

    def fill(self) -> None:
        """Start the epoch's pipeline: the ticks the earlier stages run before this stage's first
        batch arrives (called by this stage's loader before it receives that batch)."""
        if not self.filled and self.sync.active:
            for _ in range(self.mesh.stage):
                self.sync.tick()
        self.filled = True

    def drain(self) -> None:
        """End the epoch's pipeline: the ticks the later stages still run, then every send."""
        if self.sync.active and self.ticks:
            for _ in range(self.mesh.stages - 1 - self.mesh.stage):
                self.sync.tick()
        self.ticks, self.filled = 0, False
        if self.sender is not None:
            self.sender.flush()

    def predict_batch(self, h: Tensor, on_block=None) -> BatchPredictions:
        """This stage's layer-wise scores of the batch; the output goes on to the next stage;
        the last stage adds the head's logits."""
        m = self.inner
        h, blocks = m.score_blocks(h, self.blocks, on_block)
        if self.sender is not None:
            self.sender.send(h, self.slot.y, self.slot.n_global)
            return BatchPredictions(head=None, blocks=blocks)
        return BatchPredictions(head=m.net.head(h), blocks=blocks)

    def epoch_end(self) -> None:
        self.drain()
        average_buffers([self.inner.net, self.inner.aux], self.mesh)
        gather_to_writer(self.inner, self.plan, self.mesh)
        with warnings.catch_warnings():  # other stages' optimizers do not step here; their schedules still advance
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.inner.epoch_end()
