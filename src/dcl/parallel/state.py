"""One checkpoint for a pipelined run: every stage's trained state gathered on rank 0.

Every rank builds the whole network and method, but stage s trains only its own blocks (plus
the head on the last stage, plus the auxiliary parameters its blocks' optimizers update, e.g.
DCL-LD's per-block dictionaries). At the end of every epoch each stage sends what it owns,
weights, buffers and optimizer states, to rank 0 (:func:`gather_to_writer`), which so holds
the state of the sequential run and writes one ordinary ``checkpoint.pt``, atomically: `dcl
eval` reads it as any run's, and ``--resume`` loads it on every rank (with any stage count:
the file does not depend on the split). One file also means no set of per-stage files can be
left at different epochs by a crash.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from .comm import guard
from .mesh import Mesh
from .plan import StagePlan


def owners(method, plan: StagePlan) -> tuple[dict[str, int], dict[str, int], list[int]]:
    """The stage that trains each entry: ``(net state key -> stage, aux state key -> stage,
    optimizer index -> stage)``. Entries that every stage holds equally (a static dictionary,
    parameters of the shared optimizer) belong to stage 0."""
    last = plan.stages - 1
    net_owner = {}
    for key in method.net.state_dict():
        if key.startswith("blocks."):
            net_owner[key] = plan.stage_of(int(key.split(".")[1]))
        elif key.startswith("head."):
            net_owner[key] = last
    block_optimizers = [method.block_optimizer(i) for i in range(len(method.net.blocks))]
    param_stage = {}
    for i, opt in enumerate(block_optimizers):
        for g in opt.param_groups if opt is not None else ():
            for p in g["params"]:
                param_stage[id(p)] = plan.stage_of(i)
    aux_owner = {}
    for mod_name, mod in method.aux.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        stages = {param_stage[id(p)] for p in mod.parameters(recurse=False) if id(p) in param_stage}
        for name, p in mod.named_parameters(recurse=False):
            if id(p) in param_stage:
                aux_owner[prefix + name] = param_stage[id(p)]
        if len(stages) == 1:  # the module's buffers go with its parameters
            (stage,) = stages
            for name, _ in mod.named_buffers(recurse=False):
                aux_owner[prefix + name] = stage
    opt_owner = []
    for opt in method.optimizers:
        if any(opt is b for b in block_optimizers):
            opt_owner.append(plan.stage_of(next(i for i, b in enumerate(block_optimizers) if b is opt)))
        elif opt is method.head_optimizer:
            opt_owner.append(last)
        else:
            opt_owner.append(0)
    return net_owner, aux_owner, opt_owner


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def stage_bundle(method, plan: StagePlan, stage: int) -> dict[str, Any]:
    """What ``stage`` owns, on the CPU: net and aux tensors by state key, optimizer states by index."""
    net_owner, aux_owner, opt_owner = owners(method, plan)
    net_state, aux_state = method.net.state_dict(), method.aux.state_dict()
    return {
        "net": {k: _to_cpu(v) for k, v in net_state.items() if net_owner.get(k, 0) == stage},
        "aux": {k: _to_cpu(v) for k, v in aux_state.items() if aux_owner.get(k, 0) == stage},
        "optimizers": {j: _to_cpu(method.optimizers[j].state_dict()) for j, s in enumerate(opt_owner) if s == stage},
    }


def apply_bundle(method, bundle: dict[str, Any]) -> None:
    with torch.no_grad():
        for target, part in ((method.net.state_dict(), bundle["net"]), (method.aux.state_dict(), bundle["aux"])):
            for k, v in part.items():
                target[k].copy_(v)
    for j, state in bundle["optimizers"].items():
        method.optimizers[j].load_state_dict(state)


def gather_to_writer(method, plan: StagePlan, mesh: Mesh) -> None:
    """Send every later stage's owned state to stage 0 of replica 0 (rank 0), which applies it.
    The replicas hold equal states, so only replica 0's stages take part."""
    if mesh.replica != 0 or mesh.stages == 1:
        return
    mine = stage_bundle(method, plan, mesh.stage) if mesh.stage else None
    out = [None] * mesh.stages if mesh.is_writer else None
    with guard(mesh.where(), "gathering the stages' weights for the checkpoint"):
        dist.gather_object(mine, out, dst=mesh.rank_of(0, 0), group=mesh.stage_group)
    if mesh.is_writer:
        for bundle in out[1:]:
            apply_bundle(method, bundle)
