"""Optimizers and learning-rate schedules built from a :class:`~dcl.config.TrainConfig`.

Paper App. J: AdamW (betas 0.9/0.999, weight decay 0.01) with MultiStepLR, stepped once per
epoch; ResNet-32 (App. J.2.6): SGD, Nesterov momentum 0.9, weight decay 1e-4, cosine schedule.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


def make_optimizer(params: Iterable[nn.Parameter] | list[dict], cfg) -> torch.optim.Optimizer:
    params = list(params)
    # foreach kernels batch the per-parameter updates; on CPU they are measured faster too
    # (docs/benchmarks.md). fused AdamW needs every parameter on one CUDA device.
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
                                 foreach=True)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay, foreach=True)
    raise ValueError(cfg.optimizer)


def make_scheduler(opt: torch.optim.Optimizer, cfg) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0)
