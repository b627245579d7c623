"""The local-learning loop every local method shares (paper Fig. 2, REFERENCE.md).

    h = x
    for l, block in enumerate(blocks):            # f_1 .. f_{L-1}
        h_l = block(sg[h])                         # stop-gradient: nothing flows back past here
        loss_l = block_loss(l, h_l, y)             # e.g. L_dict against the label dictionary
        opt_l.zero_grad(); loss_l.backward(); opt_l.step()   # this block's graph is freed here
        h = h_l.detach()
    head: cross-entropy on f_L(sg[h]), its own optimizer

Each block takes its optimizer step right after its own backward, so no block's activations
are kept once its update is done. A subclass provides :meth:`block_loss` and the aux modules;
:meth:`block_params` says which extra parameters (e.g. an adaptive dictionary) each block's
optimizer also updates.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Method


class LocalMethod(Method):
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

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    # --- the loop ------------------------------------------------------------------------
    def train_step(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        h = x
        block_losses = []
        for i, (block, opt) in enumerate(zip(self.net.blocks, self.block_opts)):
            out = block(h)  # h is detached: the block's graph starts here
            loss = self.block_loss(i, out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            block_losses.append(loss.detach())
            h = out.detach()
            del out, loss
        if self.shared_opt is not None:
            self.shared_opt.step()
            self.shared_opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.net.head(h), y)
        self.head_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.head_opt.step()
        return {"loss": loss.detach(), "block_losses": torch.stack(block_losses)}
