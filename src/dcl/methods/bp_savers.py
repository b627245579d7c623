"""Backpropagation's own memory savers, as methods, so that DCL's memory is compared with them too.

* ``bp-accum``: gradient accumulation. Each batch of B runs as M micro-batches of about B/M
  (``micro_batches``, default 4); each micro-batch's mean cross-entropy is weighted by its share
  n_m/B and back-propagated at once (its graph freed), the gradients add up, and one optimizer
  step follows: the same effective batch and the same update as ``bp``, with about 1/M of the
  activations held at a time, at the cost of all of the network's gradients held throughout.
* ``bp-ckpt``: activation checkpointing of every block (``torch.utils.checkpoint``): the forward
  pass keeps only each block's input; backward re-runs a block's forward (with the same random
  numbers: the same dropout masks) to get what it needs, then frees it. About one extra forward
  pass of compute. Takes ``micro_batches`` too (default 1).

Exactness (tests/test_memory_savers.py): ``bp-ckpt`` gives ``bp``'s update, BatchNorm included
(the statistics the recomputation adds to the running averages are undone after each backward).
``bp-accum`` (and any method with micro_batches > 1) gives ``bp``'s update for networks without
BatchNorm, with the same dropout masks; BatchNorm normalises each micro-batch with its own
statistics ("ghost batch norm", as every gradient-accumulation loop does) and updates its
running averages once per micro-batch, so on BatchNorm networks the update differs slightly.

The reentrant variant of ``torch.utils.checkpoint`` is used: its recomputation runs under the
caller's saved-tensor hooks, so ``dcl bench``'s memory accounting sees the recomputed block (the
non-reentrant variant recomputes out of the accounting's sight). It needs an input that requires
grad to build a graph: a one-element dummy tensor is passed along with each block's input.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .base import METHODS
from .bp import Backprop


class BackpropAccumulate(Backprop):
    """BP with gradient accumulation over ``micro_batches`` micro-batches (default 4), one step per batch."""

    supports_micro_batches = True
    default_micro_batches = 4


def _run_block(block: nn.Module, h: Tensor, _dummy: Tensor) -> Tensor:
    return block(h)


class BackpropCheckpoint(Backprop):
    """BP that checkpoints every block: keeps block inputs, recomputes each block in backward."""

    supports_micro_batches = True

    def build(self) -> None:
        super().build()
        self._dummy = torch.ones(1, device=self.device, requires_grad=True)
        self._stats: list[tuple[Tensor, Tensor]] = []

    def logits(self, x: Tensor) -> Tensor:
        h = x
        for block in self.net.blocks:
            h = checkpoint(_run_block, block, h, self._dummy, use_reentrant=True, preserve_rng_state=True)
        # the running statistics after this forward: the recomputation in backward adds its own
        self._stats = [(b, b.detach().clone()) for b in self.net.blocks.buffers()] if self.net.training else []
        return self.net.head(h)

    def after_backward(self) -> None:
        with torch.no_grad():
            for buf, value in self._stats:
                buf.copy_(value)
        self._stats = []


METHODS.register("bp-accum", BackpropAccumulate,
                 description="BP with gradient accumulation: micro_batches micro-batches (default 4), one update per batch")
METHODS.register("bp-ckpt", BackpropCheckpoint,
                 description="BP with every block checkpointed (torch.utils.checkpoint): recomputed in backward")
