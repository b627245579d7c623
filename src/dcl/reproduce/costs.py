"""What a cell costs, without training it: parameters and Δθ, peak training memory (from the
benchmark API, :mod:`dcl.bench`), the time of a training step on this machine, and the
network's FLOPs for a GPU-hours estimate.

Memory is what ``dcl bench`` measures on a random batch of the table's batch size: on a CPU
the *accounted* peak (saved-for-backward tensors + weights + gradients + optimizer state, in
MiB), which is not the paper's GPU MiB (no CUDA context, allocator caching or workspaces); on
CUDA also ``torch.cuda.max_memory_allocated`` in a fresh process. Measurements are cached in
``OUT/costs.json`` by what they measure, so a table is measured once.
"""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

from ..engine.checkpoint import write_json
from ..config import TrainConfig
from .grid import run_identity
from .provenance import code_version, is_main_process

#: the throughput assumed for the GPU-hours estimate of ``dcl reproduce --list``
ASSUMED_TFLOPS = 10.0
#: training FLOPs per sample = this x the forward FLOPs (forward + backward, the usual rule)
TRAIN_FLOPS_FACTOR = 3.0
#: config fields a bench run sets itself (batch, device) or that say nothing about the cost
_BENCH_OWN = ("arch", "data", "method", "batch_size", "device", "preset", "compile", "amp")


class Cache:
    """A JSON file of measurements by section and key, written atomically by the main process."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except ValueError:
                self.data = {}

    def get(self, section: str, key: str) -> Any:
        return self.data.get(section, {}).get(key)

    def put(self, section: str, key: str, value: Any) -> None:
        """Add one measurement, merged into what the file holds now (another grid writing
        to the same ``OUT`` meanwhile keeps its entries)."""
        if is_main_process():
            on_disk = Cache(self.path).data
            for sec, entries in self.data.items():
                on_disk.setdefault(sec, {}).update(entries)
            self.data = on_disk
        self.data.setdefault(section, {})[key] = value
        if is_main_process():
            write_json(self.path, self.data)


def cost_key(cfg: TrainConfig, *extra: Any) -> str:
    return json.dumps([run_identity(cfg), *extra], sort_keys=True, default=str)


def param_counts(cfg: TrainConfig, cache: Cache | None = None, compute: bool = True) -> dict[str, int] | None:
    """``{"params", "delta_params"}`` of the cell's network and method (built, not trained);
    ``compute=False``: only what the cache holds, else None."""
    key = cost_key(cfg.replace(epochs=1, milestones=()), "params")
    hit = cache.get("params", key) if cache else None
    if hit is None and compute:
        from ..bench import build_bench_run
        run, _, _ = build_bench_run(cfg.replace(batch_size=2, device="cpu", compile=False))
        hit = {"params": run.params, "delta_params": run.delta_params}
        if cache:
            cache.put("params", key, hit)
    return hit


def memory(cfg: TrainConfig, batch_size: int, cache: Cache | None = None, log=None,
           compute: bool = True) -> dict[str, Any] | None:
    """Peak training memory of one step of the cell's method at ``batch_size`` (dcl.bench):
    ``peak_memory_mb`` (accounted) and, on CUDA, ``cuda_peak_mb``; plus params and Δθ.
    ``compute=False``: only what the cache holds, else None."""
    key = cost_key(cfg.replace(epochs=1, milestones=()), "memory", batch_size, cfg.device.split(":")[0])
    hit = cache.get("memory", key) if cache else None
    if hit is None and compute:
        from ..bench import run_benchmark
        overrides = {k: v for k, v in cfg.to_dict().items() if k not in _BENCH_OWN}
        if log:
            log(f"measuring memory: {cfg.method} on {cfg.arch} / {cfg.data}-shaped batches of {batch_size} ({cfg.device})")
        cuda = cfg.device.startswith("cuda")
        # two steps in all: one timed (it creates the optimizer state), one accounted (bench's
        # account_memory needs a step before it); the step time is not used here
        row = run_benchmark(cfg.arch, cfg.data, batch_size, [cfg.method], steps=1, warmup=0, repeats=1,
                            device=cfg.device, compile=cfg.compile, amp=cfg.amp, isolated=cuda,
                            overrides=overrides)[0]
        hit = {k: row.get(k) for k in ("peak_memory_mb", "cuda_peak_mb", "params", "delta_params", "step_ms")}
        hit.update(batch_size=batch_size, device=row.get("device"), host=platform.node(), commit=code_version())
        if cache:
            cache.put("memory", key, hit)
    return hit


def untimed_reason(cfg: TrainConfig) -> str | None:
    """Why a step's time cannot predict an epoch of ``cfg``: a method that trains at the
    epoch's end (``Method.trains_at_epoch_end``: CaFo's steps only collect the batches)."""
    from ..methods import METHODS
    if getattr(METHODS.get(cfg.method), "trains_at_epoch_end", False):
        return f"{cfg.method} trains at the epoch's end: a step's time does not predict it"
    return None


def step_seconds(cfg: TrainConfig, cache: Cache | None = None, steps: int = 2, min_seconds: float = 3.0,
                 max_steps: int = 50) -> float:
    """Seconds per training step of ``cfg`` on this machine and device: the mean over at least
    ``steps`` steps on a random batch after one warm-up step, and more (up to ``max_steps``)
    until ``min_seconds`` have passed, so one step slowed by other work on a shared machine
    does not set the estimate (dcl.bench); cached per machine and thread count."""
    import torch
    key = cost_key(cfg.replace(epochs=1, milestones=()), "step", cfg.batch_size, cfg.device, platform.node(),
                   torch.get_num_threads())
    hit = cache.get("timing", key) if cache else None
    if hit is None:
        from ..bench import build_bench_run, time_steps
        run, x, y = build_bench_run(cfg)
        run.method.train_step(x, y)
        total, n = 0.0, 0
        while n < steps or (total < min_seconds and n < max_steps):
            total += time_steps(run, x, y, 1)[0]
            n += 1
        hit = total / n
        if cache:
            cache.put("timing", key, hit)
    return float(hit)


#: the largest batch :func:`quick_step_seconds` times (a VGG8B step on 96 px images at batch
#: 128 takes most of a minute on a CPU)
TIMING_BATCH = 16


def quick_step_seconds(cfg: TrainConfig, cache: Cache | None = None) -> float:
    """Seconds per training step of ``cfg``, timed on a batch of at most :data:`TIMING_BATCH`
    samples (one warm-up and two timed steps) and scaled linearly to ``cfg.batch_size``: a
    planning figure for ``--dry-run``, not a benchmark (``dcl bench`` measures)."""
    small = min(cfg.batch_size, TIMING_BATCH)
    m = cfg.micro_batches
    small_cfg = cfg if small == cfg.batch_size else \
        cfg.replace(batch_size=small, **({"micro_batches": None} if m and m > small // 2 else {}))
    return step_seconds(small_cfg, cache, steps=2, min_seconds=0.0) * cfg.batch_size / small


def data_shape(data: str) -> tuple:
    """``(in_shape, num_classes)`` of a registered dataset (what a network's cost depends on)."""
    from ..data import DATASETS
    spec = DATASETS.get(data)
    return tuple(spec.in_shape), spec.num_classes


def epoch_seconds(step_s: float, steps: int | None, cfg: TrainConfig, test_size: int | None) -> float | None:
    """One epoch: its training steps plus the test pass (a forward pass, about a third of a step)."""
    if steps is None:
        return None
    eval_steps = math.ceil(test_size / cfg.batch_size) if test_size else 0
    return step_s * (steps + eval_steps / 3.0)


def forward_flops(cfg: TrainConfig) -> int:
    """FLOPs of one sample's forward pass through the network (built on the meta device, so
    nothing is allocated); the method's own modules are not counted. Counted on the equivalent
    plain network (``lean_layers=False``): the lean layers compute the same products, but their
    custom autograd functions do not run on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..data import DATASETS
    from ..models import build_model

    spec = DATASETS.get(cfg.data)
    with torch.device("meta"):
        net = build_model(cfg.replace(lean_layers=False), spec).eval()
        h = torch.empty(1, *spec.in_shape)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        for i in range(len(net.blocks)):
            h, _ = net.block_forward(i, h)
        net.head(h)
    return int(counter.get_total_flops())


def gpu_hours(cfg: TrainConfig, train_size: int, test_size: int, tflops: float = ASSUMED_TFLOPS) -> float:
    """A planning figure: the run's training + test FLOPs at ``tflops`` TFLOP/s sustained."""
    f = forward_flops(cfg)
    per_epoch = TRAIN_FLOPS_FACTOR * f * train_size + f * test_size
    return per_epoch * cfg.epochs / (tflops * 1e12) / 3600.0
