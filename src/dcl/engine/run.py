"""A run: the dataset, the network and the method built from a config, on a device.

    run = build_run(cfg)                 # names checked, data loaded, seeded, built
    run.method.train_step(x, y)          # one update (the batch checked)
    evaluate_run(run, "test")            # errors of every prediction mode
    eval_error(run, "block:2")           # one mode: head | block:N | ensemble (p) | the method's own
    ensemble_errors_over_p(run)          # [(p, ensemble error %)] for p = 0..10 (Fig. III)

A trained run is loaded with :func:`dcl.load` (a Run too).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig, validate_config
from ..data import DATASETS, BatchLoader, Dataset, Split, load_dataset
from ..data.user import DeviceLoader
from ..devices import resolve_device
from ..errors import DCLError
from ..evaluate import Scores, check_prediction, collect_scores, errors, prediction_error, sweep_p
from ..methods import METHODS, Method, build_method
from ..models import ARCHS, LocalNet, build_model, count_params
from ..optim import compile_network
from ..parallel import SingleProcess


@dataclass
class Run:
    """Everything a run is made of; built by :func:`build_run`."""

    cfg: TrainConfig
    dataset: Dataset
    net: LocalNet
    method: Method
    device: torch.device
    history: list[dict[str, Any]] = field(default_factory=list)
    global_step: int = 0                    # training steps taken since the run began
    custom_net: bool = False                # a user's network (dcl.load needs it passed again)
    out: Path | None = None                 # the run folder while fit() runs
    provenance: dict[str, Any] = field(default_factory=dict)
    #: this process's hooks (dcl.parallel): one rank of a torchrun run, or the one process's, which do nothing
    parallel: SingleProcess = field(default_factory=SingleProcess)

    @property
    def params(self) -> int:
        return count_params(self.net) + count_params(self.method.aux)

    @property
    def delta_params(self) -> int:
        """Parameters beyond the same network trained by BP (the method's own modules)."""
        return count_params(self.method.aux)

    def _loader(self, split, batch_size: int, train: bool):
        c = self.cfg
        limit = c.limit_train_batches if train else c.limit_test_batches
        if not isinstance(split, Split):  # a user's DataLoader
            loader = DeviceLoader(split, self.dataset.spec, self.device, limit, c.channels_last)
        else:
            limited = self.method.train_loader_options() if train else {}  # e.g. N&E's class-limited batches
            loader = BatchLoader(split, self.dataset.spec, batch_size, train=train, device=self.device,
                                 augment=c.augment, seed=c.seed, limit_batches=limit,
                                 channels_last=c.channels_last, **limited)
        return self.parallel.train_loader(loader) if train else self.parallel.eval_loader(loader)

    def train_loader(self):
        return self._loader(self.dataset.train, self.cfg.batch_size, True)

    def eval_loader(self, split: str = "test"):
        return self._loader(getattr(self.dataset, split), self.cfg.eval_batch_size, False)


def build_run(cfg: TrainConfig, data_dir=None, dataset: Dataset | None = None,
              net: LocalNet | None = None) -> Run:
    """Check names, load data, seed, build the network and the method on the device.

    ``net``: a ready network (e.g. from ``dcl.models.make_local``) instead of ``cfg.arch``,
    which then only names it. ``dataset``: data already loaded (or a user's, see
    :func:`dcl.data.user.user_dataset`) instead of ``cfg.data`` from ``data_dir``.
    """
    validate_config(cfg)
    METHODS.get(cfg.method)
    custom = net is not None  # a user's network: a loaded run needs it passed again
    if net is None:
        ARCHS.get(cfg.arch)
    else:
        cfg = cfg.replace(arch=net.name or "custom")
    if dataset is None:
        if cfg.data not in DATASETS:
            raise DCLError(f"unknown dataset {cfg.data!r}; valid choices: {', '.join(DATASETS.names())} "
                           f"(a run on your own data needs it passed again: train_data=..., test_data=...)")
        dataset = load_dataset(cfg.data, data_dir, val_split=cfg.val_split, seed=cfg.seed)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if net is None:
        net = build_model(cfg, dataset.spec)
    elif tuple(net.in_shape) != tuple(dataset.spec.in_shape) or net.num_classes != dataset.spec.num_classes:
        raise DCLError(f"the network takes inputs {tuple(net.in_shape)} and {net.num_classes} classes, but "
                       f"{cfg.data} has {tuple(dataset.spec.in_shape)} and {dataset.spec.num_classes}")
    if cfg.batch_size < 2 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        raise DCLError(f"batch_size must be >= 2 for {cfg.arch}: its BatchNorm layers need 2 or more samples "
                       f"per training batch, got {cfg.batch_size}")
    net = net.to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    if cfg.compile:
        compile_network(net)
    method = build_method(net, cfg, device, data=dataset.spec)
    return Run(cfg, dataset, net, method, device, custom_net=custom)


def evaluate_run(run: Run, split: str = "test", progress: bool = False) -> dict[str, Any]:
    """Errors of every prediction mode on ``split`` (``test`` or ``val``)."""
    loader = run.eval_loader(split)
    bar = tqdm(loader, desc=f"eval {split}", disable=not progress, leave=False, dynamic_ncols=True)
    scores = collect_scores(run.net, run.method, bar)
    return errors(run.parallel.gather_scores(run, scores))  # every rank scored its part




def run_scores(run: Run, split: str = "test") -> Scores:
    """Head and block scores of every sample of ``split`` (one pass)."""
    return collect_scores(run.net, run.method, run.eval_loader(split))


def check_run_prediction(run: Run, predict: str) -> str:
    """``predict`` if ``run``'s method offers it (head, block:N, ensemble or its own modes),
    else a DCLError listing the valid ones."""
    return check_prediction(predict, run.method.num_layerwise, run.method.extra_predictions)


def eval_error(run: Run, predict: str = "head", p: float = 1.0, split: str = "test") -> float:
    """Top-1 error (percent) of ``predict`` (``head`` | ``block:N`` | ``ensemble``) on ``split``."""
    check_run_prediction(run, predict)
    return prediction_error(run_scores(run, split), predict, p)


def ensemble_errors_over_p(run: Run, ps: Iterable[float] = range(11), split: str = "test") -> list[tuple[float, float]]:
    """``[(p, ensemble error %)]`` for each p (Fig. III)."""
    check_prediction("ensemble", run.method.num_layerwise)
    return sweep_p(run_scores(run, split), ps)
