"""The training engine: data -> network -> method -> epochs, evaluation, metrics, checkpoints.

    from dcl import resolve_config, train
    cfg = resolve_config(arch="fc", data="mnist", method="dcl", epochs=5)
    summary = train(cfg, out="runs/fc-mnist")       # also writes checkpoint.pt, metrics.jsonl

Each epoch: one pass of ``method.train_step`` over the training batches, the schedulers'
step, then test errors of the head and of every block's dictionary prediction. The run is
seeded (model init from ``cfg.seed``; data order and augmentation from ``(seed, epoch)``),
and a checkpoint is written atomically after every epoch; ``resume=True`` continues from it
and gives the same numbers as a run that was never interrupted.
"""
from __future__ import annotations

import json
import platform
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from .checkpoint import (RESUME_KEYS, atomic_write_text, checkpoint_config, load_checkpoint, load_fitting,
                         restore_method_state, save_checkpoint, write_json)
from .config import TrainConfig, check_fields_used, check_names, validate_config
from .data import DATASETS, BatchLoader, Dataset, load_dataset
from .errors import DCLError
from .evaluate import collect_scores, errors
from .methods import METHODS, Method, build_method
from .lossguard import FiniteLossGuard
from .optim import compile_network
from .models import LocalNet, build_model, count_params
from .runlock import hold_run_folder


def resolve_device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise DCLError(f"unknown device {name!r}; valid choices: cpu, cuda, cuda:N, mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DCLError(f"device {name!r} is not available (no CUDA); use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DCLError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                       f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DCLError(f"device {name!r} is not available; use --device cpu")
    return dev


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: max allocated since the last reset; CPU: peak resident memory of this process."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


@dataclass
class Run:
    """Everything a run is made of; built by :func:`build_run`."""

    cfg: TrainConfig
    dataset: Dataset
    net: LocalNet
    method: Method
    device: torch.device
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def params(self) -> int:
        return count_params(self.net) + count_params(self.method.aux)

    @property
    def delta_params(self) -> int:
        """Parameters beyond the same network trained by BP (the method's own modules)."""
        return count_params(self.method.aux)

    def train_loader(self) -> BatchLoader:
        c = self.cfg
        return BatchLoader(self.dataset.train, self.dataset.spec, c.batch_size, train=True, device=self.device,
                           augment=c.augment, seed=c.seed, limit_batches=c.limit_train_batches,
                           channels_last=c.channels_last)

    def eval_loader(self, split: str = "test") -> BatchLoader:
        c = self.cfg
        data = getattr(self.dataset, split)
        return BatchLoader(data, self.dataset.spec, c.eval_batch_size, train=False, device=self.device,
                           channels_last=c.channels_last)


def build_run(cfg: TrainConfig, data_dir=None, dataset: Dataset | None = None,
              net: LocalNet | None = None) -> Run:
    """Check names, load data, seed, build the network and the method on the device.

    ``net``: a ready network (e.g. from ``dcl.models.make_local``) instead of ``cfg.arch``,
    which then only names it.
    """
    validate_config(cfg)
    if net is None:
        check_names(cfg)
    else:
        DATASETS.get(cfg.data)
        METHODS.get(cfg.method)
        cfg = cfg.replace(arch=net.name or "custom")
    device = resolve_device(cfg.device)
    if dataset is None:
        dataset = load_dataset(cfg.data, data_dir, val_split=cfg.val_split, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    if net is None:
        net = build_model(cfg, dataset.spec.in_shape, dataset.spec.num_classes)
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
    method = build_method(net, cfg, device)
    return Run(cfg, dataset, net, method, device)


def evaluate_run(run: Run, split: str = "test") -> dict[str, Any]:
    return errors(collect_scores(run.net, run.method, run.eval_loader(split)))


def train(cfg: TrainConfig, out: str | Path | None = None, *, data_dir=None, resume: bool = False,
          progress: bool = False, log: Callable[[str], None] | None = None,
          dataset: Dataset | None = None, net: LocalNet | None = None) -> dict[str, Any]:
    """Train ``cfg`` and return the summary dict (also written to ``out/summary.json``).

    ``net``: train this network (e.g. ``dcl.models.make_local(model, ...)``) instead of
    building ``cfg.arch``; pass it again with ``resume=True``.

    ``resume=True`` continues from ``out/checkpoint.pt`` (the checkpoint's config is used,
    except ``epochs``, which may be raised to train longer).

    ``out`` is checked (a folder that exists or can be made) and locked for the whole run
    (:mod:`dcl.runlock`): a second run on the same folder is refused while this one runs.
    """
    if not isinstance(cfg, TrainConfig):
        raise DCLError(f"train() needs a dcl.TrainConfig (e.g. dcl.resolve_config(arch='fc', data='mnist')), "
                       f"got {type(cfg).__name__}")
    validate_config(cfg)
    if not resume:
        check_fields_used(cfg, custom_net=net is not None)
    if out is None:
        if resume:
            raise DCLError("--resume needs --out DIR (the folder holding checkpoint.pt)")
        return _train(cfg, None, data_dir, False, progress, log, dataset, net)
    if resume and not (Path(out) / "checkpoint.pt").is_file():
        raise DCLError(f"no checkpoint at {Path(out) / 'checkpoint.pt'} to resume")
    with hold_run_folder(out) as folder:
        return _train(cfg, folder, data_dir, resume, progress, log, dataset, net)


def _train(cfg: TrainConfig, out: Path | None, data_dir, resume: bool, progress: bool, log, dataset,
           net) -> dict[str, Any]:
    state = None
    if resume:
        path = out / "checkpoint.pt"
        state = load_checkpoint(path, require=RESUME_KEYS)
        cfg = checkpoint_config({**state, "config": {**state["config"], "epochs": cfg.epochs}}, path)
    run = build_run(cfg, data_dir, dataset, net)
    start_epoch = 0
    if state is not None:
        restore_run(run, state, path)
        start_epoch = int(state["epoch"])
        if start_epoch >= cfg.epochs and log:
            log(f"checkpoint is already at epoch {start_epoch} of {cfg.epochs}; nothing to train")
    return fit(run, out, start_epoch=start_epoch, progress=progress, log=log)


def restore_run(run: Run, state: dict[str, Any], path: Path) -> None:
    """Load the weights, optimizer states, RNG and history of ``state`` into ``run``; anything
    that does not fit the run's config is a one-line DCLError naming it."""
    config = f"arch {run.cfg.arch}, method {run.cfg.method}, data {run.cfg.data}"
    load_fitting(run.net, state["net"], "network", path, config)
    load_fitting(run.method.aux, state["aux"], "method", path, config)
    restore_method_state(run.method, state["method"], path, config)
    rng = state["rng"]
    try:
        torch.set_rng_state(rng["cpu"])
        if run.device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], run.device)
    except (TypeError, KeyError, RuntimeError, AttributeError):
        raise DCLError(f"{path}: its saved random-number state is damaged") from None
    if not isinstance(state["history"], list):
        raise DCLError(f"{path}: its history is a {type(state['history']).__name__}, not a list of epochs")
    run.history = list(state["history"])


def fit(run: Run, out: Path | None, *, start_epoch: int = 0, progress: bool = False,
        log: Callable[[str], None] | None = None) -> dict[str, Any]:
    cfg, net, method = run.cfg, run.net, run.method
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    loader = run.train_loader()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if getattr(loader, "__len__", None) is not None and len(loader) == 0:
        raise DCLError(f"no training batch: the training split has {len(run.dataset.train)} sample(s), fewer than "
                       f"one batch of {cfg.batch_size} (a last batch of 1 is dropped); lower batch_size")
    guard = FiniteLossGuard(run.device, out, hint=f"a lower lr than {cfg.lr:g} may help")
    checked, method.check_inputs = method.check_inputs, False  # the loader's batches come from checked splits
    for epoch in range(start_epoch, cfg.epochs):
        loader.set_epoch(epoch)
        net.train()
        t0 = time.perf_counter()
        loss_sum, block_sum, steps, samples = None, None, 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False,
                   dynamic_ncols=True)
        for x, y in bar:
            stats = method.train_step(x, y)
            guard.check(stats, epoch + 1, steps + 1)
            loss_sum = stats["loss"] if loss_sum is None else loss_sum + stats["loss"]
            if "block_losses" in stats:
                bl = stats["block_losses"]
                block_sum = bl if block_sum is None else block_sum + bl
            steps += 1
            samples += y.shape[0]
            if progress and steps % 10 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / steps:.4f}")
        guard.flush()
        if run.device.type == "cuda":
            torch.cuda.synchronize(run.device)
        train_seconds = time.perf_counter() - t0
        method.epoch_end()
        ev = evaluate_run(run, "test")
        record = {
            "epoch": epoch + 1,
            "train_loss": float(loss_sum) / max(steps, 1) if steps else float("nan"),
            "block_losses": [float(v) / steps for v in block_sum] if block_sum is not None else [],
            **ev,
            "lr": method.lr(),
            "train_seconds": train_seconds,
            "samples_per_second": samples / train_seconds if train_seconds > 0 else 0.0,
        }
        if run.dataset.val is not None:
            val = evaluate_run(run, "val")
            record["val_error"] = val["test_error"]
            record["val_layer_errors"] = val["layer_test_errors"]
        record["seconds"] = time.perf_counter() - t0
        run.history.append(record)
        if log:
            log(format_epoch(record, cfg.epochs))
        if out is not None:
            save_checkpoint(out / "checkpoint.pt", checkpoint_state(run, epoch + 1))
            atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in run.history))
            write_json(out / "summary.json", summary(run))
    method.check_inputs = checked
    result = summary(run)
    if out is not None:
        write_json(out / "summary.json", result)
    return result


def checkpoint_state(run: Run, epoch: int) -> dict[str, Any]:
    rng = {"cpu": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None}
    return {
        "epoch": epoch,
        "config": run.cfg.to_dict(),
        "net": run.net.state_dict(),
        "aux": run.method.aux.state_dict(),
        "method": run.method.state_dict(),
        "rng": rng,
        "history": run.history,
    }


def summary(run: Run) -> dict[str, Any]:
    h = run.history
    last = h[-1] if h else {}
    best = min(h, key=lambda r: r["test_error"]) if h else {}
    train_secs = sum(r["train_seconds"] for r in h)
    samples = sum(r["samples_per_second"] * r["train_seconds"] for r in h)
    return {
        "arch": run.cfg.arch,
        "data": run.cfg.data,
        "method": run.cfg.method,
        "preset": run.cfg.preset,
        "epochs": len(h),
        "test_error": last.get("test_error"),
        "best_test_error": best.get("test_error"),
        "best_epoch": best.get("epoch"),
        "layer_test_errors": last.get("layer_test_errors", []),
        "params": run.params,
        "delta_params": run.delta_params,
        "seconds_per_epoch": (sum(r["seconds"] for r in h) / len(h)) if h else None,
        "train_seconds_per_epoch": (train_secs / len(h)) if h else None,
        "samples_per_second": samples / train_secs if train_secs > 0 else None,
        "peak_memory_mb": peak_memory_mb(run.device),
        "device": str(run.device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "config": run.cfg.to_dict(),
    }


def format_epoch(r: dict[str, Any], epochs: int) -> str:
    layers = " ".join(f"{e:.2f}" for e in r["layer_test_errors"])
    s = (f"epoch {r['epoch']:>3}/{epochs}  loss {r['train_loss']:.4f}  test err {r['test_error']:.2f}%")
    if layers:
        s += f"  blocks [{layers}]%"
    if "val_error" in r:
        s += f"  val err {r['val_error']:.2f}%"
    return s + f"  {r['seconds']:.1f}s  ({r['samples_per_second']:.0f} samples/s)"
