"""What a training method is: how each block of a :class:`~dcl.models.LocalNet` learns.

A method owns its auxiliary modules (``aux``: e.g. the label dictionary; they are saved with
the network and counted in Δθ), its optimizers and schedulers, and one training step. The
engine (:mod:`dcl.train`) owns everything around it: data, epochs, evaluation, checkpoints.

Methods are registered in :data:`METHODS` by name: ``METHODS.register("name", Class)``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..models.base import LocalNet
from ..optim import make_optimizer, make_scheduler
from ..registry import Registry

METHODS: Registry = Registry("method")


class Method:
    """Base class. Subclasses set ``name`` and implement :meth:`build` and :meth:`train_step`."""

    #: does this method train a label dictionary that gives layer-wise predictions (Eq. 3)?
    layerwise = False
    #: does a block's learning signal stay inside the block (stop-gradient between blocks)?
    local = False

    def __init__(self, net: LocalNet, cfg, device: torch.device | str = "cpu"):
        self.net = net
        self.cfg = cfg
        self.device = torch.device(device)
        self.aux: nn.Module = nn.Module()
        self.optimizers: list[torch.optim.Optimizer] = []
        self.schedulers: list[Any] = []
        self.build()
        self.aux.to(self.device)

    # --- to implement ----------------------------------------------------------------
    def build(self) -> None:
        """Create ``self.aux`` and call :meth:`add_optimizer` for every optimizer."""
        raise NotImplementedError

    def train_step(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """One update on a batch ``x (B, C, H, W)``, ``y (B,)``. Returns detached loss tensors:
        ``"loss"`` (the head's cross-entropy) and, for local methods, ``"block_losses" (L-1,)``."""
        raise NotImplementedError

    def block_logits(self, i: int, h: Tensor) -> Tensor | None:
        """Layer-wise prediction scores ``(B, Z)`` of block ``i`` from its output, or None."""
        return None

    # --- shared machinery --------------------------------------------------------------
    def add_optimizer(self, params) -> torch.optim.Optimizer:
        opt = make_optimizer(params, self.cfg)
        self.optimizers.append(opt)
        self.schedulers.append(make_scheduler(opt, self.cfg))
        return opt

    def epoch_end(self) -> None:
        for s in self.schedulers:
            s.step()

    def lr(self) -> float:
        return self.optimizers[0].param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for o, s in zip(self.optimizers, state["optimizers"], strict=True):
            o.load_state_dict(s)
        for o, s in zip(self.schedulers, state["schedulers"], strict=True):
            o.load_state_dict(s)
