"""Benchmarks: training throughput and memory of methods side by side (``dcl bench``).

* :func:`run_benchmark` - interleaved timing + accounted and device-level memory, one dict per method
* :class:`SavedTensorMeter`, :class:`TrainingMemoryMeter` - memory accounting (:mod:`.memory`)
* :func:`format_table` - the text table ``dcl bench`` prints
"""
from .memory import MemoryReport, SavedTensorMeter, TrainingMemoryMeter, storage_key, tensors_bytes
from .report import format_table
from .runner import account_memory, bench_config, build_bench_run, run_benchmark, time_steps

__all__ = [
    "MemoryReport", "SavedTensorMeter", "TrainingMemoryMeter", "account_memory", "bench_config",
    "build_bench_run", "format_table", "run_benchmark", "storage_key", "tensors_bytes", "time_steps",
]
