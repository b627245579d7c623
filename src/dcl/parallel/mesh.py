"""Who this process is in a distributed run: its rank, stage and replica, and the process groups.

A run launched by torchrun (environment ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) with ``W`` ranks and ``cfg.stages = S`` is a 2-D mesh of
``R = W / S`` data-parallel replicas of an S-stage pipeline::

    rank = replica * S + stage          (a replica's stages are neighbouring ranks)

    stage group of replica r:  {r*S + s for s < S}   point-to-point activations, dictionary sync
    replica group of stage s:  {r*S + s for r < R}   gradient averaging (all-reduce)

gloo on CPUs, NCCL on CUDA devices (rank on ``cuda:LOCAL_RANK``). Every group is created with
``cfg.dist_timeout``, so no collective or receive waits longer than that for a rank that died
or hangs (a rank that died is usually noticed at once: its sockets close).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist

from ..errors import DCLError
from .comm import CommStats, guard


def launched() -> bool:
    """Was this process started as one of several ranks (torchrun sets ``WORLD_SIZE``)?"""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def env_rank() -> int:
    """This process's rank from the launcher's environment (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


@dataclass
class Mesh:
    """This rank's place in the ``replicas x stages`` mesh and the groups it talks through."""

    rank: int
    world: int
    stages: int
    device: torch.device
    timeout: float
    stage_group: object = None        # the ranks of this replica's pipeline
    replica_group: object = None      # the ranks that hold this stage in every replica
    owns_process_group: bool = False  # we called init_process_group (and so destroy it)
    stats: CommStats = field(default_factory=CommStats)

    @property
    def replicas(self) -> int:
        return self.world // self.stages

    @property
    def stage(self) -> int:
        return self.rank % self.stages

    @property
    def replica(self) -> int:
        return self.rank // self.stages

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes the run folder and logs; every other rank writes nothing."""
        return self.rank == 0

    @property
    def is_first(self) -> bool:
        return self.stage == 0

    @property
    def is_last(self) -> bool:
        return self.stage == self.stages - 1

    def rank_of(self, stage: int, replica: int | None = None) -> int:
        return (self.replica if replica is None else replica) * self.stages + stage

    def where(self) -> str:
        s = f"rank {self.rank} of {self.world}"
        if self.stages > 1:
            s += f" (stage {self.stage + 1} of {self.stages}"
            s += f", replica {self.replica + 1} of {self.replicas})" if self.replicas > 1 else ")"
        return s

    def wait_timeout(self) -> timedelta:
        return timedelta(seconds=self.timeout)

    def close(self) -> None:
        if self.owns_process_group and dist.is_initialized():
            dist.destroy_process_group()


def rank_device(name: str) -> torch.device:
    """The device of this rank: ``cuda`` means ``cuda:LOCAL_RANK``; CPUs are shared; ``auto``
    is CUDA when there is one, else the CPU (gloo)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DCLError(f"device {name!r} is not available (no CUDA); use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    elif dev.type != "cpu":
        raise DCLError(f"distributed training runs on cpu (gloo) or cuda (NCCL) devices, not {name!r}")
    return dev


def init_mesh(cfg) -> Mesh | None:
    """Join the process group the launcher set up and build this rank's groups; None in a
    plain one-process run. Reuses a process group that the caller already initialised."""
    world = dist.get_world_size() if dist.is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))
    stages = int(cfg.stages)
    if world == 1 and stages == 1:
        return None
    if world == 1:
        raise DCLError(f"--stages {stages} runs one process per stage: launch it as `torchrun --nproc-per-node "
                       f"{stages} -m dcl train ...` (this is a single process)")
    if world % stages:
        raise DCLError(f"--stages {stages} does not divide the {world} ranks (ranks = stages x replicas)")
    device = rank_device(cfg.device)
    owns = not dist.is_initialized()
    mesh = Mesh(rank=-1, world=world, stages=stages, device=device, timeout=float(cfg.dist_timeout),
                owns_process_group=owns)
    with guard(f"rank {env_rank()}", "joining the process group"):
        if owns:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=mesh.wait_timeout())
        mesh.rank = dist.get_rank()
        # every rank creates every group, in the same order (torch.distributed requires it)
        for r in range(mesh.replicas):
            g = dist.new_group([r * stages + s for s in range(stages)], timeout=mesh.wait_timeout())
            if r == mesh.replica:
                mesh.stage_group = g
        for s in range(stages):
            g = dist.new_group([r * stages + s for r in range(mesh.replicas)], timeout=mesh.wait_timeout())
            if s == mesh.stage:
                mesh.replica_group = g
    return mesh
