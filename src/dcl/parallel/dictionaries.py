"""Label dictionaries (and any parameter several blocks share) when the blocks run on different ranks.

In a pipeline, stage s trains batch t - s while stage 0 trains batch t (one *tick*). A
parameter that only one stage's blocks read and update needs nothing; the DCL variants:

* ``dcl-s``: the dictionary is a buffer that never changes: nothing to exchange, and the
  pipelined run computes exactly the sequential updates.
* ``dcl-ld``: one dictionary per block, in that block's optimizer: each lives on its block's
  stage; nothing to exchange; exact.
* ``dcl-o``: only the last block's loss moves the dictionary; the others read it detached. It
  lives on the last stage, which broadcasts it to the other stages after every update (each
  tick). Stage s then reads the dictionary as updated up to batch t - S, where the sequential
  run reads it as updated up to batch t - 1: the other blocks see it S - 1 updates late.
* ``dcl`` (adaptive): every block's loss moves the dictionary. Sequentially it is in every
  block's optimizer and takes L-1 steps per batch, block l+1 reading block l's update
  (``dict_update=sequential``); with the blocks on different ranks at the same time that chain
  cannot exist. Under ``--stages`` a run uses ``dict_update=accumulate`` wiring instead (one
  shared optimizer): every tick, each stage's dictionary gradient (from its blocks, on its own
  batch) is summed over the stages with an all-reduce and every stage takes the same one step,
  so the copies stay equal. Against the sequential run this differs in three ways: one step
  per tick instead of L-1 per batch (that is ``accumulate``), the summed gradients come from S
  different batches (stage s's from batch t - s), and each tick's stages read a dictionary
  that already holds the updates of the ticks before (up to S - 1 batches ahead of the
  sequential order for later stages). The gradients are summed, as ``accumulate`` sums them
  over blocks; the mean would differ by the factor S, which AdamW's update ignores (up to eps).

Generic rule (:func:`check_shared`): a parameter in the block optimizers of two stages is
refused with a one-line error, since no pipelined order can reproduce its sequential updates.
"""
from __future__ import annotations

import time

import torch
import torch.distributed as dist
from torch import nn

from ..errors import DCLError
from ..methods import METHODS
from .comm import guard
from .mesh import Mesh
from .plan import StagePlan


def config_for_stages(cfg):
    """``cfg`` as its method runs it under ``--stages`` (``Method.config_for_stages``: adaptive
    ``dcl`` accumulates its dictionary's gradients, module doc); unchanged in one stage."""
    return METHODS.get(cfg.method).config_for_stages(cfg) if cfg.stages > 1 else cfg


def broadcast_params(method, plan: StagePlan) -> list[tuple[nn.Parameter, int]]:
    """``(parameter, owning stage)`` pairs that one stage updates and the others read
    (``Method.block_owned_params``: DCL-O's dictionary, owned by the stage of the last block)."""
    return [(p, plan.stage_of(i)) for p, i in method.block_owned_params()]


def check_shared(method, plan: StagePlan) -> None:
    """Refuse a parameter that block optimizers of two different stages update."""
    owner: dict[int, int] = {}
    names = {id(p): n for n, p in method.aux.named_parameters()}
    names.update({id(p): n for n, p in method.net.named_parameters()})
    for i in range(len(method.net.blocks)):
        s, opt = plan.stage_of(i), method.block_optimizer(i)
        for g in opt.param_groups if opt is not None else ():
            for p in g["params"]:
                if owner.setdefault(id(p), s) != s:
                    raise DCLError(f"{method.cfg.method}: parameter {names.get(id(p), '?')} is updated by blocks on "
                                   f"stages {owner[id(p)] + 1} and {s + 1}; a pipeline cannot reproduce its "
                                   f"sequential updates (train it with --stages 1)")


class TickSync:
    """Once per tick, on every stage of a replica: sum the shared parameters' gradients over
    the stages and step them (dcl), or broadcast the owned ones (dcl-o). ``active`` is False
    when the method shares nothing, and then the stages never wait for each other."""

    def __init__(self, method, plan: StagePlan, mesh: Mesh):
        self.method, self.mesh = method, mesh
        self.summed = method.shared_params() if method.shared_optimizer is not None else []
        self.broadcast = broadcast_params(method, plan)
        self.active = bool(self.summed or self.broadcast)

    def tick(self) -> None:
        t0 = time.perf_counter()
        with guard(self.mesh.where(), "exchanging the dictionary between stages"), torch.no_grad():
            if self.summed:
                grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.summed]
                flat = torch.cat([g.reshape(-1) for g in grads])
                dist.all_reduce(flat, group=self.mesh.stage_group)
                self.mesh.stats.collective_bytes += flat.numel() * flat.element_size()
                i = 0
                for p in self.summed:
                    p.grad = flat[i:i + p.numel()].view_as(p).clone()
                    i += p.numel()
            for p, owner in self.broadcast:
                dist.broadcast(p.data, src=self.mesh.rank_of(owner), group=self.mesh.stage_group)
                if self.mesh.stage == owner:
                    self.mesh.stats.collective_bytes += p.numel() * p.element_size()
        self.mesh.stats.waited("dictionary", t0)
        if self.summed:
            self.method.optimizer_step(self.method.shared_optimizer)  # DP replicas average inside
