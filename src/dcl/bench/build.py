"""A benchmarked run: the config of one method, and its network and method built as
:func:`dcl.build_run` builds them, with one fixed random batch shaped like the dataset (no data
files read). Shared by the in-process benchmark (:mod:`dcl.bench.runner`) and the fresh-process
memory measurement (:mod:`dcl.bench.isolated`).
"""
from __future__ import annotations

from typing import Any

import torch

from ..config import TrainConfig, resolve_config
from ..data import DATASETS, Dataset, Split
from ..engine.run import Run, build_run


def bench_config(arch: str, data: str, method: str, batch_size: int, device: str = "cpu",
                 **overrides: Any) -> TrainConfig:
    """The run config of one benchmarked method: the ``arch-data`` preset (when the paper has
    one) with ``method``, ``batch_size``, ``device`` and ``overrides`` on top."""
    return resolve_config(arch=arch, data=data, method=method, batch_size=batch_size, device=device, **overrides)


def build_bench_run(cfg: TrainConfig) -> tuple[Run, torch.Tensor, torch.Tensor]:
    """The network and method of ``cfg`` (as :func:`dcl.build_run` builds them for training)
    plus one random batch ``x (B, C, H, W)``, ``y (B,)`` shaped like dataset ``cfg.data``."""
    spec = DATASETS.get(cfg.data)
    empty = Split(torch.empty(0, *spec.in_shape, dtype=torch.uint8), torch.empty(0, dtype=torch.int64))
    run = build_run(cfg, dataset=Dataset(spec, empty, empty, None))
    run.method.check_inputs = False  # the batches made here are valid: no per-step check inside the timings
    g = torch.Generator().manual_seed(cfg.seed + 1)
    x = torch.randn(cfg.batch_size, *spec.in_shape, generator=g).to(run.device)
    if cfg.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, spec.num_classes, (cfg.batch_size,), generator=g).to(run.device)
    run.net.train()
    return run, x, y
