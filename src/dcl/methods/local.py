"""The local-learning loop every local method shares (paper Fig. 2, REFERENCE.md).

    h = x
    for l, block in enumerate(blocks):            # f_1 .. f_{L-1}
        h_l = block(sg[h])                         # stop-gradient: nothing flows back past here
        loss_l = block_loss(l, h_l, y)             # e.g. L_dict against the label dictionary
        loss_l.backward(); opt_l.step(); opt_l.zero_grad(set_to_none=True)   # graph, grads freed
        h = h_l.detach()
    head: cross-entropy on f_L(sg[h]), its own optimizer

Lean by construction (docs/benchmarks.md measures each point):

* a block's graph is freed by its own ``backward`` and its gradients are dropped
  (``set_to_none``) right after its optimizer step, so while block l+1 runs, nothing of
  block l is held but its detached output; the peak is the largest single block, not the sum;
* no reference to a block's output, loss or graph outlives its iteration (only the detached
  scalar losses are kept for logging);
* the first op of a block sees an input that does not require grad, so autograd records no
  backward for it into the previous block (no input-gradient convolution: the speed-up).

A subclass provides :meth:`block_loss` and the aux modules; :meth:`block_params` says which
extra parameters (e.g. an adaptive dictionary) each block's optimizer also updates.

The pipelined runner (:mod:`dcl.parallel`) cuts this loop between blocks through a public
interface, and nothing else: :meth:`LocalMethod.block_step` ``(i, h, y)``,
:meth:`LocalMethod.train_head` ``(h, y)``, and who owns what: :meth:`LocalMethod.block_optimizer`
``(i)``, :attr:`LocalMethod.head_optimizer`, :attr:`LocalMethod.shared_optimizer` (over
:meth:`LocalMethod.shared_params`).

Micro-batches (``cfg.micro_batches`` = M > 1, for subclasses whose loss is a mean over samples,
``supports_micro_batches``), each part's loss weighted by its share, the summed gradients those
of the whole batch:

* layer by layer (default): block l runs its batch as M parts, back-propagating each at once,
  then steps; it holds the saved tensors of one part (about 1/M) at a time, plus the whole
  batch's input and output. The dictionary is still updated block after block;
* pipelined, when :meth:`blocks_independent` (e.g. DCL-S: a static dictionary): each part runs
  through every block and the head, and all optimizers step at the end; nothing of the whole
  batch is held, but every block's gradients are, until the steps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..optim import autocast
from .base import Method


class LocalMethod(Method):
    """A method whose every block learns from its own local loss (module doc): one optimizer
    per block, one for the head, one for the shared parameters (if any)."""

    local = True

    def build(self) -> None:
        self.build_aux()
        self.block_opts = [
            self.add_optimizer(list(block.parameters()) + self.block_params(i))
            for i, block in enumerate(self.net.blocks)
        ]
        self.head_opt = self.add_optimizer(self.net.head.parameters())
        shared = self.shared_params()
        self.shared_opt = self.add_optimizer(shared) if shared else None

    # --- hooks for subclasses ------------------------------------------------------------
    def build_aux(self) -> None:
        """Create ``self.aux`` (modules holding the local losses' own parameters)."""

    def block_params(self, i: int) -> list[nn.Parameter]:
        """Extra parameters stepped by block ``i``'s optimizer after its own loss."""
        return []

    def shared_params(self) -> list[nn.Parameter]:
        """Parameters whose gradients accumulate over all blocks and get one step per batch."""
        return []

    def head_loss_weight(self) -> float:
        """Factor on the head's cross-entropy before its backward (N&E's predsim: 1 - beta); the
        reported ``loss`` stays the plain cross-entropy."""
        return 1.0

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        """Block ``i``'s local loss on its feature ``h`` (the tensor at :attr:`feature_tap`,
        else the block output) and labels ``y (B,)``; a scalar whose graph ends in block ``i``."""
        raise NotImplementedError

    # --- the stage runner's interface (dcl.parallel cuts the loop between blocks) ---------------
    def block_optimizer(self, i: int) -> torch.optim.Optimizer | None:
        """The optimizer that block ``i``'s loss steps: block ``i``'s parameters plus its
        :meth:`block_params` (e.g. DCL-LD's dictionary of block ``i``); None for a block with
        nothing to train (DRTP's frozen blocks)."""
        return self.block_opts[i]

    @property
    def head_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer of the head f_L's parameters, stepped by :meth:`train_head`."""
        return self.head_opt

    @property
    def shared_optimizer(self) -> torch.optim.Optimizer | None:
        """The optimizer of :meth:`shared_params` (their gradients summed over all blocks' losses,
        one step per batch after the blocks); None when the method shares nothing."""
        return self.shared_opt

    # --- the loop ------------------------------------------------------------------------
    def block_step(self, i: int, h: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Train block ``i`` on its input ``h (B, *block i's input shape)`` (detached: the
        previous block's output, or the batch) and labels ``y (B,)``: forward, local loss,
        backward, one step of :meth:`block_optimizer` ``(i)``. Returns block ``i``'s detached
        output ``(B, *block i's output shape)`` and its detached loss ``()``.

        A function of its own so that the block's output, loss and graph are locals that
        die when it returns (nothing of block i is alive while block i+1 runs).
        """
        opt = self.block_opts[i]
        opt.zero_grad(set_to_none=True)  # no-op unless something leaked a gradient into opt's params
        parts = self.split_batch(h, y)  # one part unless micro_batches > 1
        outs, total = [], None
        for hm, ym, weight in parts:
            with autocast(self.cfg, self.device):
                # h is detached: the block's graph starts here; the loss reads the block at its
                # feature_tap (its output unless the method names a Tap inside the block)
                out, feature = self.net.block_forward(i, hm, self.feature_tap)
                loss = self.block_loss(i, feature, ym)
            (loss * weight if weight != 1.0 else loss).backward()  # micro-batches: gradients add up
            outs.append(out.detach())
            part = loss.detach() * weight
            total = part if total is None else total + part
            del out, feature, loss
        self.optimizer_step(opt)  # also frees this block's gradients before the next block
        return (outs[0] if len(outs) == 1 else torch.cat(outs)), total

    def blocks_independent(self) -> bool:
        """Does no block's loss read a parameter that another block's optimizer steps during the
        same batch? Then micro-batches may run through all blocks one after another (see
        :meth:`_update_pipelined`) with the same update. False unless a subclass knows."""
        return False

    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        if self.micro_batches > 1 and self.blocks_independent():
            return self._update_pipelined(x, y)
        h = x
        block_losses = []
        for i in range(len(self.net.blocks)):
            h, loss = self.block_step(i, h, y)
            block_losses.append(loss)
        if self.shared_opt is not None:
            self.optimizer_step(self.shared_opt)
        loss = self.train_head(h, y)
        return {"loss": loss, "block_losses": torch.stack(block_losses)}

    def train_head(self, h: Tensor, y: Tensor) -> Tensor:
        """Train the head f_L with cross-entropy on the last block's detached output ``h (B, ...)``
        and labels ``y (B,)``, one step of :attr:`head_optimizer`; return the detached loss
        ``()``. (The pipelined runner, :mod:`dcl.parallel`, calls it on the last stage.)"""
        with autocast(self.cfg, self.device):
            loss = F.cross_entropy(self.net.head(h), y)
        self.head_opt.zero_grad(set_to_none=True)
        weight = self.head_loss_weight()
        (loss * weight if weight != 1.0 else loss).backward()
        self.optimizer_step(self.head_opt)
        return loss.detach()

    def _update_pipelined(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """Micro-batches for independent blocks: each part runs through every block and the head
        (each block's loss back-propagated at once, its graph freed, gradients adding up), then
        every optimizer steps once. Block l still sees block l-1's output from before its update,
        as in :meth:`update`, so the update is the same; no whole-batch activation is ever
        held, at the cost of holding every block's gradients until the steps."""
        opts = [*self.block_opts, self.head_opt] + ([self.shared_opt] if self.shared_opt is not None else [])
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        block_losses, head_loss = [None] * len(self.net.blocks), None
        for xm, ym, weight in self.split_batch(x, y):
            h = xm
            for i in range(len(self.net.blocks)):
                with autocast(self.cfg, self.device):
                    out, feature = self.net.block_forward(i, h, self.feature_tap)
                    loss = self.block_loss(i, feature, ym)
                (loss * weight).backward()
                part = loss.detach() * weight
                block_losses[i] = part if block_losses[i] is None else block_losses[i] + part
                h = out.detach()
                del out, feature, loss
            with autocast(self.cfg, self.device):
                loss = F.cross_entropy(self.net.head(h), ym)
            (loss * (weight * self.head_loss_weight())).backward()
            part = loss.detach() * weight
            head_loss = part if head_loss is None else head_loss + part
            del h, loss
        for opt in self.block_opts:
            self.optimizer_step(opt)
        if self.shared_opt is not None:
            self.optimizer_step(self.shared_opt)
        self.optimizer_step(self.head_opt)
        return {"loss": head_loss, "block_losses": torch.stack(block_losses)}
