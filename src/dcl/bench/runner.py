"""Side-by-side training benchmark: throughput and memory of methods on one network.

    from dcl.bench import run_benchmark
    rows = run_benchmark("conv", "cifar10", 128, ["bp", "dcl", "dcl-s"], steps=3)
    rows[1]["speedup_vs_bp"], rows[1]["memory_vs_bp"]

Every method trains its own copy of the network (same seed, so the same initial weights) on
one fixed random batch shaped like the dataset (no data files are read: this times the
training step itself). In one process, after ``warmup`` steps each, the methods take turns:
``repeats`` rounds, each timing ``steps`` consecutive steps of every method, the order rotated
every round, so all see the same machine conditions. A method's step time is the median over
its rounds. Memory comes from three independent measurements:

* accounted (:mod:`dcl.bench.memory`, any device, deterministic): the peak of tensors saved for
  backward + weights + gradients + optimizer state, over one step after the timed ones;
* device-level, in a fresh process per method (:mod:`dcl.bench.isolated`): the peak resident
  set (``ru_maxrss``) and, on CUDA, ``max_memory_allocated`` after a reset.

Ratios (``speedup_vs_bp``, ``memory_vs_bp``, ...) compare each method with ``bp`` of the same run.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..errors import DCLError
from ..devices import cpu_name, loadavg
from ..engine.run import Run
from .build import bench_config, build_bench_run
from .isolated import measure_in_subprocess
from .memory import MB, TrainingMemoryMeter


@dataclass(frozen=True)
class Variant:
    """One benchmarked row: ``method`` with config ``overrides`` of its own, shown as ``label``."""

    label: str
    method: str
    overrides: dict[str, Any] = field(default_factory=dict)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(run: Run, x: torch.Tensor, y: torch.Tensor, steps: int) -> tuple[float, float]:
    """``(wall, cpu)`` seconds per training step, averaged over ``steps`` consecutive steps.

    ``cpu`` is this process's CPU time (all its threads): on a machine shared with other
    work it is less disturbed than the wall time; with one thread it is the work done.
    """
    _sync(run.device)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        run.method.train_step(x, y)
    _sync(run.device)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def account_memory(run: Run, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accounted memory (MB) of one training step; call it after at least one step, so the
    optimizer state exists (its peak, like the gradients', is part of the figure)."""
    meter = TrainingMemoryMeter([run.net, run.method.aux], run.method.optimizers)
    with meter:
        run.method.train_step(x, y)
    r = meter.report()
    return {
        "peak_memory_mb": r.peak_bytes / MB,
        "saved_peak_mb": r.saved_peak_bytes / MB,
        "weights_mb": r.weights_bytes / MB,
        "grads_peak_mb": r.grads_peak_bytes / MB,
        "optimizer_state_mb": r.optimizer_state_bytes / MB,
        "saved_at_peak_mb": r.saved_at_peak / MB,
        "grads_at_peak_mb": r.grads_at_peak / MB,
        "saved_tensors": r.saved_tensors,
    }


def machine_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                            "threads": torch.get_num_threads(), "cpu": cpu_name(), "cores": os.cpu_count()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def run_benchmark(arch: str, data: str, batch_size: int, methods: Sequence[str] = ("bp", "dcl", "dcl-s"), *,
                  steps: int = 3, warmup: int = 1, repeats: int = 5, device: str = "cpu",
                  compile: bool = False, amp: bool = False, isolated: bool = True, threads: int | None = None,
                  overrides: dict[str, Any] | None = None, variants: Sequence[Variant] | None = None,
                  log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Benchmark ``methods`` on ``arch`` with inputs shaped like ``data``; one dict per method.

    Each dict holds ``method``, ``params``, ``delta_params``, ``step_ms`` (median over
    ``repeats`` rounds of ``steps`` steps), ``samples_per_second``, ``cpu_ms`` (median CPU
    time of the process per step), the accounted
    ``peak_memory_mb`` and its parts (``saved_peak_mb``, ``weights_mb``, ``grads_peak_mb``,
    ``optimizer_state_mb``), with ``isolated`` the fresh-process ``rss_peak_mb`` /
    ``rss_train_mb`` (peak minus the resident set before the first step) and on CUDA
    ``cuda_peak_mb``; and, for every method but ``bp`` when ``bp`` was run,
    ``speedup_vs_bp``, ``cpu_speedup_vs_bp``, ``paired_speedup_vs_bp`` (median over rounds of
    bp's step time / this method's in the same round), ``memory_vs_bp``, ``saved_vs_bp`` and
    the device-level ratios.
    ``overrides`` are further config fields (e.g. ``{"channels_last": True}``); ``threads``
    sets ``torch.set_num_threads`` for the run (and its fresh processes). ``variants``
    (instead of ``methods``): :class:`Variant` s, a method with config fields of its own (e.g.
    ``micro_batches``) under a row label; the row labelled ``bp`` is the reference. Every row
    also holds ``label`` and ``micro_batches`` (the M the method ran with).
    """
    if threads is not None and threads < 1:
        raise DCLError(f"threads must be >= 1, got {threads}")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        if variants is None:
            names = [m.strip() for m in methods if m.strip()]
            if len(set(names)) != len(names):
                raise DCLError(f"--methods lists a method twice: {','.join(names)}")
            variants = [Variant(m, m) for m in names]
        if not variants:
            raise DCLError(f"no method to benchmark (methods={list(methods)!r}); name at least one, e.g. bp,dcl,dcl-s")
        return _run_benchmark(arch, data, batch_size, list(variants), steps=steps, warmup=warmup, repeats=repeats,
                              device=device, compile=compile, amp=amp, isolated=isolated, overrides=overrides,
                              log=log)
    finally:
        torch.set_num_threads(old_threads)


def _run_benchmark(arch, data, batch_size, variants, *, steps, warmup, repeats, device, compile, amp, isolated,
                   overrides, log) -> list[dict[str, Any]]:
    if not variants:
        raise DCLError("--methods needs at least one method (dcl list methods)")
    labels = [v.label for v in variants]
    for name, value, low in (("steps", steps, 1), ("repeats", repeats, 1), ("warmup", warmup, 0),
                             ("batch_size", batch_size, 2)):
        if value < low:
            raise DCLError(f"{name} must be >= {low}, got {value}")
    if amp and not str(device).startswith("cuda"):
        raise DCLError(f"--amp (bf16 autocast) needs a CUDA device, got --device {device}")
    say = log or (lambda s: None)
    extra = dict(overrides or {})
    extra.update(compile=compile, amp=amp)
    cfgs = [bench_config(arch, data, v.method, batch_size, device, **{**extra, **v.overrides}) for v in variants]
    runs = []
    for cfg in cfgs:
        runs.append(build_bench_run(cfg))
    dev = runs[0][0].device
    load_before = loadavg()
    say(f"warm-up: {warmup} step(s) per method" + (" (compiling)" if compile else ""))
    for run, x, y in runs:
        for _ in range(warmup):
            run.method.train_step(x, y)
    _sync(dev)
    times: list[list[float]] = [[] for _ in runs]
    cpu_times: list[list[float]] = [[] for _ in runs]
    for r in range(repeats):
        for k in range(len(runs)):
            i = (k + r) % len(runs)  # rotate the order every round
            run, x, y = runs[i]
            wall, cpu = time_steps(run, x, y, steps)
            times[i].append(wall)
            cpu_times[i].append(cpu)
        say(f"round {r + 1}/{repeats}: " + ", ".join(f"{m} {t[-1] * 1e3:.0f} ms" for m, t in zip(labels, times)))
    load_after = loadavg()
    rows = []
    for label, cfg, (run, x, y), ts, cs in zip(labels, cfgs, runs, times, cpu_times):
        step = statistics.median(ts)
        row: dict[str, Any] = {
            "method": cfg.method, "label": label, "micro_batches": run.method.micro_batches,
            "arch": cfg.arch, "data": cfg.data, "batch_size": cfg.batch_size,
            "device": str(run.device), "params": run.params, "delta_params": run.delta_params,
            "step_ms": step * 1e3, "step_ms_min": min(ts) * 1e3, "step_ms_max": max(ts) * 1e3,
            "samples_per_second": cfg.batch_size / step, "step_ms_all": [t * 1e3 for t in ts],
            "cpu_ms": statistics.median(cs) * 1e3,
        }
        row.update(account_memory(run, x, y))
        rows.append(row)
    del runs
    if isolated:
        for cfg, row in zip(cfgs, rows):
            say(f"fresh-process memory of {row['label']}")
            iso = measure_in_subprocess(cfg.to_dict(), steps=2, threads=torch.get_num_threads())
            if "error" in iso:
                row["isolated_error"] = iso["error"]
                continue
            row["rss_peak_mb"] = iso["rss_peak_mb"]
            row["rss_train_mb"] = iso["rss_peak_mb"] - iso["rss_base_mb"]
            if "cuda_peak_mb" in iso:
                row["cuda_peak_mb"] = iso["cuda_peak_mb"]
    meta = {"steps": steps, "warmup": warmup, "repeats": repeats, "compile": compile, "amp": amp,
            "channels_last": cfgs[0].channels_last, "loadavg_before": load_before, "loadavg_after": load_after,
            **machine_info(dev)}
    bp = next((row for row in rows if row["label"] == "bp"), None)
    for row in rows:
        if bp is not None and row is not bp:
            row["speedup_vs_bp"] = _ratio(row["samples_per_second"], bp["samples_per_second"])
            row["cpu_speedup_vs_bp"] = _ratio(bp["cpu_ms"], row["cpu_ms"])
            # each round times every method back to back: the median of the per-round ratios
            # is steadier than the ratio of medians when the machine's load changes mid-run
            row["paired_speedup_vs_bp"] = statistics.median(
                b / t for b, t in zip(bp["step_ms_all"], row["step_ms_all"]))
            row["memory_vs_bp"] = _ratio(row["peak_memory_mb"], bp["peak_memory_mb"])
            row["saved_vs_bp"] = _ratio(row["saved_peak_mb"], bp["saved_peak_mb"])
            for key in ("rss_peak_mb", "rss_train_mb", "cuda_peak_mb"):
                if key in row and key in bp:
                    row[key.replace("_mb", "_vs_bp")] = _ratio(row[key], bp[key])
        row.update(meta)
    return rows
