"""Benchmarks: training throughput and memory of methods side by side (``dcl bench``).

* :func:`run_benchmark` - interleaved timing + accounted and device-level memory, one dict per method
* :func:`run_frontier` - every method at several micro-batch counts: the memory-throughput frontier
  (:mod:`.frontier`), :func:`format_frontier`, :func:`plot_frontier` (PNG, needs matplotlib)
* :class:`SavedTensorMeter`, :class:`TrainingMemoryMeter` - memory accounting (:mod:`.memory`)
* :func:`format_table` - the text table ``dcl bench`` prints
"""
from .frontier import BASELINES, DEFAULT_MICRO_BATCHES, format_frontier, frontier_summary, frontier_variants, run_frontier
from .memory import MemoryReport, SavedTensorMeter, TrainingMemoryMeter, storage_key, tensors_bytes
from .plot import plot_frontier
from .report import format_table
from .build import bench_config, build_bench_run
from .runner import Variant, account_memory, run_benchmark, time_steps

__all__ = [
    "BASELINES", "DEFAULT_MICRO_BATCHES", "MemoryReport", "SavedTensorMeter", "TrainingMemoryMeter", "Variant",
    "account_memory", "bench_config", "build_bench_run", "format_frontier", "format_table", "frontier_summary",
    "frontier_variants", "plot_frontier", "run_benchmark", "run_frontier", "storage_key", "tensors_bytes",
    "time_steps",
]
