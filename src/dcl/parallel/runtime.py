"""The engine's view of a run's processes: the few hooks :mod:`dcl.train` calls.

One code path for one process and many: a plain one-process run is the one-rank case, whose
hooks (:class:`SingleProcess`) do nothing; :class:`Parallel` is one rank of a torchrun run.

    par = Parallel.start(cfg)          # a SingleProcess in a plain one-process run
    cfg = par.configure(cfg)           # this rank's device; dcl's dictionary wiring under stages
    run = build_run(cfg, ...)          # every rank builds the whole network and method
    par.attach(run)                    # the stage split, gradient averaging, the rank's method
    ... fit(run, out if par.is_writer else None) ...
        run.train_loader() / run.eval_loader()   -> par.train_loader / par.eval_loader
        evaluate_run                             -> par.gather_scores
        after each epoch's steps                 -> par.reduce_epoch
    par.close()
"""
from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ..devices import device_name
from ..errors import DCLError
from ..evaluate import Scores
from .comm import guard
from .dictionaries import config_for_stages
from .gradients import GradientAverager
from .loaders import BatchSlot, rank_loader
from .mesh import Mesh, init_mesh
from .plan import StagePlan, check_split, split_report
from .scores import gather_scores
from .stage import ReplicaMethod, StageMethod, check_stageable


class SingleProcess:
    """The hooks of a plain one-process run (the one-rank case): each leaves what it gets as
    it is. :class:`Parallel` implements them for one rank of many; ``Run.parallel`` holds one
    of the two, never None."""

    #: does this rank write the run folder and log? (The only rank does.)
    is_writer = True

    def configure(self, cfg):
        """``cfg`` for this rank: unchanged."""
        return cfg

    def attach(self, run) -> None:
        """Make ``run`` this rank's part: ``run.parallel = self``."""
        run.parallel = self

    def train_loader(self, loader):
        """This rank's training batches ``(x (B, ...), y (B,))``: all of ``loader``'s."""
        return loader

    def eval_loader(self, loader):
        """This rank's evaluation batches: all of ``loader``'s."""
        return loader

    def gather_scores(self, run, scores: Scores) -> Scores:
        """Every rank's part of an evaluation, assembled: here ``scores`` is the whole."""
        return scores

    def reduce_epoch(self, loss_sum: Tensor | None, block_sum: Tensor | None, samples: int,
                     seconds: float) -> tuple[Tensor | None, Tensor | None, int, float]:
        """An epoch's sums over all ranks (head loss ``()``, block losses ``(L-1,)``, samples,
        seconds): here this rank's, as they are."""
        return loss_sum, block_sum, samples, seconds

    def describe(self, device) -> dict[str, Any]:
        """How the run is spread (``summary.json``): here one process on ``device``."""
        return {"world_size": 1, "replicas": 1, "stages": 1, "stage_split": None, "backend": None,
                "device_names": [device_name(device)]}

    def barrier(self) -> None:
        """Wait for every rank: there is no other."""

    def close(self) -> None:
        """Leave the process group: there is none."""


class Parallel(SingleProcess):
    """One rank's part in a data-parallel and/or pipelined run (module doc)."""

    def __init__(self, mesh: Mesh):
        self.mesh = mesh
        self.slot = BatchSlot()
        self.plan: StagePlan | None = None
        self.averager: GradientAverager | None = None
        self.cfg = self.method = None
        self.device_names: list[str] = []

    @classmethod
    def start(cls, cfg) -> SingleProcess:
        """This process's hooks: a :class:`Parallel` rank when launched as several ranks (or
        ``cfg.stages > 1``, which needs them), else a :class:`SingleProcess`."""
        mesh = init_mesh(cfg)
        return SingleProcess() if mesh is None else cls(mesh)

    @property
    def is_writer(self) -> bool:
        return self.mesh.is_writer

    def configure(self, cfg):
        """``cfg`` for this rank: its device (``cuda`` -> ``cuda:LOCAL_RANK``) and, under stages,
        dcl's dictionary wiring (:func:`~dcl.parallel.dictionaries.config_for_stages`)."""
        if cfg.sync_bn and self.mesh.device.type != "cuda":
            raise DCLError("sync_bn needs CUDA devices (torch's SyncBatchNorm has no CPU kernel); on CPUs each "
                           "replica keeps its own batch statistics, averaged after every epoch")
        if self.mesh.stages > 1 and getattr(cfg, "checkpoint_every", None):
            raise DCLError("checkpoint_every (checkpoints within an epoch) does not work with --stages: the stages' "
                           "states are gathered into the checkpoint at the end of each epoch")
        if cfg.batch_size < 2 * self.mesh.replicas:
            raise DCLError(f"batch_size {cfg.batch_size} is too small for {self.mesh.replicas} replicas "
                           f"(each needs at least 2 samples of every batch)")
        return config_for_stages(cfg.replace(device=str(self.mesh.device)))

    def attach(self, run) -> None:
        """Make ``run`` this rank's part: choose the stage split (rank 0 measures, all use it;
        saved in ``run.cfg.stage_split`` so a resumed run keeps it), average gradients across
        replicas, and wrap the method."""
        mesh, method = self.mesh, run.method
        if mesh.stages > 1:
            check_stageable(method)
            self.plan = StagePlan(self.choose_split(method, run.cfg))
            run.cfg = run.cfg.replace(stage_split=self.plan.counts)
        if mesh.replicas > 1:
            if run.cfg.sync_bn:
                torch.nn.SyncBatchNorm.convert_sync_batchnorm(run.net, mesh.replica_group)
            params = [p for opt in method.optimizers for g in opt.param_groups for p in g["params"]]
            self.averager = GradientAverager(list({id(p): p for p in params}.values()), mesh, self.slot,
                                             overlap=run.cfg.grad_overlap)
            method.gradient_sync = self.averager
        if self.plan is not None:
            run.method = StageMethod(method, mesh, self.slot, self.plan, run.cfg.max_in_flight)
            if mesh.device.type == "cuda":  # a stage's device holds only its own blocks (and the head)
                for i, block in enumerate(run.net.blocks):
                    if i not in self.plan.blocks(mesh.stage):
                        block.to("cpu")
                if not mesh.is_last:
                    run.net.head.to("cpu")
        else:
            run.method = ReplicaMethod(method, mesh, self.slot)
        self.cfg, self.method = run.cfg, run.method
        names: list[Any] = [None] * mesh.world
        with guard(mesh.where(), "sharing the device names"):
            dist.all_gather_object(names, device_name(mesh.device))
        self.device_names = [str(n) for n in names]
        run.parallel = self

    def choose_split(self, method, cfg) -> tuple[int, ...]:
        n = len(method.net.blocks)
        if cfg.stages > n:
            raise DCLError(f"--stages {cfg.stages}: {cfg.arch} has {n} blocks, so at most {n} stages")
        if cfg.stage_split is not None:
            return check_split(cfg.stage_split, cfg.stages, n)
        if cfg.stages == n:
            return (1,) * n
        split = [None]
        if self.mesh.is_writer:  # one measurement, so that every rank uses the same split
            split = [tuple(split_report(method, cfg.stages, max(2, cfg.batch_size // self.mesh.replicas))["split"])]
        with guard(self.mesh.where(), "agreeing on the stage split"):
            dist.broadcast_object_list(split, src=0)
        return tuple(split[0])

    # --- hooks of the epoch loop --------------------------------------------------------
    def train_loader(self, loader):
        fill = self.method.fill if isinstance(self.method, StageMethod) else None
        return rank_loader(loader, self.mesh, self.slot, seed=self.cfg.seed, train=True,
                           channels_last=self.cfg.channels_last, on_start=fill)

    def eval_loader(self, loader):
        return rank_loader(loader, self.mesh, self.slot, seed=self.cfg.seed, train=False,
                           channels_last=self.cfg.channels_last)

    def gather_scores(self, run, scores: Scores) -> Scores:
        """Every rank's part of an evaluation, assembled (the same on every rank)."""
        if isinstance(self.method, StageMethod):
            self.method.drain()
        return gather_scores(scores, self.mesh)

    def reduce_epoch(self, loss_sum: Tensor | None, block_sum: Tensor | None, samples: int,
                     seconds: float) -> tuple[Tensor | None, Tensor | None, int, float]:
        """An epoch's sums over all ranks: the head's loss (last stages) and each block's loss
        (its stage), averaged over replicas; samples over replicas; the slowest rank's seconds."""
        m = self.mesh
        if isinstance(self.method, StageMethod):
            self.method.drain()  # the later stages' last ticks need the earlier stages
        device = m.device
        loss = torch.zeros(1, device=device) if loss_sum is None else loss_sum.detach().reshape(1).float()
        blocks = torch.zeros(0, device=device) if block_sum is None else block_sum.detach().float()
        flat = torch.cat([loss.to(device), blocks.to(device), torch.tensor([float(samples)], device=device)])
        t = torch.tensor([seconds], device=device, dtype=torch.float64)
        with guard(m.where(), "summing the epoch's losses"):
            dist.all_reduce(flat)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        flat[:-1] /= m.replicas
        loss_sum = flat[0]
        block_sum = flat[1:-1] if block_sum is not None else None
        return loss_sum, block_sum, int(round(float(flat[-1]) / m.stages)), float(t)

    def timings(self) -> dict[str, Any]:
        s = self.mesh.stats
        return {"rank": self.mesh.rank, "stage": self.mesh.stage, "replica": self.mesh.replica,
                "compute_seconds": s.compute_seconds, "waits": dict(s.waits), "p2p_bytes": s.p2p_bytes,
                "collective_bytes": s.collective_bytes, "steps": s.steps, "time": time.perf_counter()}

    def describe(self, device) -> dict[str, Any]:
        """World size, replicas x stages, the stage split, the backend and every rank's device."""
        m = self.mesh
        return {"world_size": m.world, "replicas": m.replicas, "stages": m.stages,
                "stage_split": list(self.plan.counts) if self.plan is not None else None,
                "backend": str(dist.get_backend()), "device_names": list(self.device_names)}

    def barrier(self) -> None:
        with guard(self.mesh.where(), "finishing the run"):
            dist.barrier()

    def close(self) -> None:
        if self.averager is not None:
            self.averager.remove()
        self.mesh.close()
