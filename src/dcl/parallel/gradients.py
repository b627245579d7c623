"""Data-parallel gradient averaging: every replica steps with the gradient of the global batch.

Replica r holds n_r of the n samples of a batch and its loss is the mean over them, so the
global batch's gradient is ``sum_r (n_r / n) * g_r``: each replica scales its gradient by
n_r / n and the replicas sum (an all-reduce over the stage's replica group). With equal parts
this is the plain average, as DDP computes it.

It runs in :meth:`Method.sync_gradients` (``Method.gradient_sync``), which every parameter
update of every method goes through, so it works for any method, BP or local. Two ways:

* ``overlap`` (``cfg.grad_overlap``, default): a post-accumulate-grad hook on every trained
  parameter starts an asynchronous all-reduce of a scaled copy of its gradient the moment
  autograd has produced it, so communication overlaps the rest of that backward pass; the
  step waits for the handles of its own parameters. (The engine steps a block right after
  its backward, so the all-reduce cannot overlap the *next* block's compute without
  deferring the step, which would change DCL's sequential dictionary updates.) A gradient
  that changed after its hook fired (accumulated again, or set by a method by hand) is
  reduced again at the step, so the result is always the average of the final gradients.
* plain: at the step, one all-reduce of all the optimizer's gradients flattened into one buffer.

BatchNorm: each replica normalises with its own batch statistics (as DDP does by default);
:func:`average_buffers` makes the running statistics equal across replicas at the end of
every epoch, before evaluation and checkpoints. ``cfg.sync_bn`` uses torch's SyncBatchNorm
(statistics over all replicas; CUDA only).
"""
from __future__ import annotations

import time

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .comm import guard
from .loaders import BatchSlot
from .mesh import Mesh


class GradientAverager:
    """``Method.gradient_sync`` for a replica group (module doc). ``params``: every parameter
    the method's optimizers update."""

    def __init__(self, params: list[nn.Parameter], mesh: Mesh, slot: BatchSlot, overlap: bool):
        self.mesh, self.slot, self.group = mesh, slot, mesh.replica_group
        self.pending: dict[nn.Parameter, tuple[Tensor, object, Tensor, int]] = {}
        self.stale: list = []
        self.hooks = []
        if overlap:
            for p in params:
                if p.requires_grad:
                    self.hooks.append(p.register_post_accumulate_grad_hook(self._on_grad))

    def _on_grad(self, p: nn.Parameter) -> None:
        buf = p.grad.detach() * self.slot.weight  # a copy: autograd may accumulate into p.grad again
        with guard(self.mesh.where(), "all-reducing gradients"):
            work = dist.all_reduce(buf, group=self.group, async_op=True)
        self.mesh.stats.collective_bytes += buf.numel() * buf.element_size()
        old = self.pending.pop(p, None)
        if old is not None:
            self.stale.append(old)
        self.pending[p] = (buf, work, p.grad, p.grad._version)

    def __call__(self, opt: torch.optim.Optimizer) -> None:
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        late = []
        t0 = time.perf_counter()
        with guard(self.mesh.where(), "all-reducing gradients"):
            for p in params:
                entry = self.pending.pop(p, None)
                if entry is not None and entry[2] is p.grad and entry[3] == p.grad._version:
                    entry[1].wait(self.mesh.wait_timeout())
                    p.grad.copy_(entry[0])
                else:
                    if entry is not None:
                        self.stale.append(entry)
                    late.append(p)
            if late:
                self._reduce_now([p.grad for p in late])
            for entry in self.stale:
                entry[1].wait(self.mesh.wait_timeout())
            self.stale.clear()
        self.mesh.stats.waited("gradients", t0)

    def _reduce_now(self, grads: list[Tensor]) -> None:
        flat = torch.cat([g.reshape(-1) for g in grads]) * self.slot.weight
        dist.all_reduce(flat, group=self.group)
        self.mesh.stats.collective_bytes += flat.numel() * flat.element_size()
        i = 0
        for g in grads:
            g.copy_(flat[i:i + g.numel()].view_as(g))
            i += g.numel()

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()
        self.hooks = []


def average_buffers(modules: list[nn.Module], mesh: Mesh) -> None:
    """Make the floating-point buffers (BatchNorm running statistics) of ``modules`` the mean
    over this stage's replicas; integer buffers (batch counters) are already equal."""
    if mesh.replicas == 1:
        return
    bufs = [b for m in modules for b in m.buffers() if b.is_floating_point()]
    if not bufs:
        return
    with guard(mesh.where(), "averaging BatchNorm statistics"), torch.no_grad():
        flat = torch.cat([b.reshape(-1).float() for b in bufs])
        dist.all_reduce(flat, group=mesh.replica_group)
        flat /= mesh.replicas
        i = 0
        for b in bufs:
            b.copy_(flat[i:i + b.numel()].view_as(b))
            i += b.numel()
