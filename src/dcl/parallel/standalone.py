"""The method of a ``--stages`` run, built in this one process: no data read, no process group.

``dcl describe --stages S`` measures the split such a run would choose
(:func:`describe_split`), and ``dcl bench --stages`` (:mod:`dcl.parallel.bench`) times the
pipeline on random batches; both build the network and method from registry names, seeded as
:func:`dcl.engine.run.build_run` seeds them, with the config ``dcl train --stages S`` derives.
"""
from __future__ import annotations

from typing import Any

import torch

from ..config import TrainConfig, resolve_config
from ..data import DATASETS
from ..methods import Method, build_method
from ..models import build_model
from .dictionaries import config_for_stages
from .plan import split_report
from .stage import check_stageable


def stage_config(**fields: Any) -> TrainConfig:
    """``resolve_config(**fields)`` as a run under ``fields["stages"]`` trains it
    (:func:`~dcl.parallel.dictionaries.config_for_stages`)."""
    return config_for_stages(resolve_config(**fields))


def build_stage_method(cfg: TrainConfig, device: str = "cpu") -> Method:
    """``cfg``'s network (seeded with ``cfg.seed``) and method on ``device``; the dataset's
    shapes come from its registry entry, so no data is read."""
    spec = DATASETS.get(cfg.data)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg, spec).to(device)
    return build_method(net, cfg, device, data=spec)


def describe_split(arch: str, data: str | None, method: str | None, stages: int, *, preset: str | None = None,
                   **overrides: Any) -> dict[str, Any]:
    """:func:`~dcl.parallel.plan.split_report` for a registry network under a method
    (``dcl describe --stages``), at the run's batch size; no data is read and the global RNG
    is left untouched."""
    cfg = stage_config(arch=arch, data=data, preset=preset, method=method, stages=stages, **overrides)
    with torch.random.fork_rng(devices=[]):
        m = build_stage_method(cfg)
    check_stageable(m)
    return split_report(m, stages, cfg.batch_size)
