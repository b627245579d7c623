"""Rebuild a trained run from its checkpoint, for evaluation and analysis."""
from __future__ import annotations

import torch

from .checkpoint import load_checkpoint
from .config import TrainConfig
from .train import Run, build_run


def load_trained(checkpoint, *, data_dir=None, device: str | None = None, dataset=None) -> Run:
    """The :class:`~dcl.train.Run` saved in ``checkpoint`` (a file or run folder), weights loaded.

    ``device=None`` uses the training device when it is available, else the CPU.
    """
    state = load_checkpoint(checkpoint)
    cfg = TrainConfig.from_dict(state["config"])
    if device is None:
        device = cfg.device if not cfg.device.startswith("cuda") or torch.cuda.is_available() else "cpu"
    cfg = cfg.replace(device=device)
    run = build_run(cfg, data_dir, dataset)
    run.net.load_state_dict(state["net"])
    run.method.aux.load_state_dict(state["aux"])
    run.history = list(state.get("history", []))
    return run
