"""What a run saves and reports: checkpoint contents, the summary, and restoring a run.

``checkpoint.pt`` holds everything to continue a run exactly: weights, the method's optimizer
and scheduler states, RNG states, the history, the global step and, for a checkpoint written
mid-epoch (``checkpoint_every``), the epoch's partial sums (:class:`EpochStats`). ``best.pt``
holds the weights of the best epoch by validation error. Both record the data's shape and
normalisation (``data_spec``), so :func:`dcl.load` needs no data on disk.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .checkpoint import load_fitting, restore_method_state
from ..data import DatasetSpec, Split
from ..errors import DCLError
from ..devices import peak_memory_mb


@dataclass
class EpochStats:
    """Sums over the steps of one epoch so far (saved mid-epoch, so a resume continues them)."""

    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    loss_sum: Tensor | None = None
    block_sum: Tensor | None = None

    def add(self, stats: dict[str, Tensor], batch_size: int) -> None:
        self.loss_sum = stats["loss"] if self.loss_sum is None else self.loss_sum + stats["loss"]
        if "block_losses" in stats:
            bl = stats["block_losses"]
            self.block_sum = bl if self.block_sum is None else self.block_sum + bl
        self.steps += 1
        self.samples += batch_size

    def state(self) -> dict[str, Any]:
        return {"steps": self.steps, "samples": self.samples, "seconds": self.seconds,
                "loss_sum": self.loss_sum, "block_sum": self.block_sum}

    @classmethod
    def from_state(cls, s: dict[str, Any], device) -> "EpochStats":
        move = (lambda t: t.to(device) if t is not None else None)
        return cls(int(s["steps"]), int(s["samples"]), float(s["seconds"]), move(s["loss_sum"]), move(s["block_sum"]))


def spec_state(spec: DatasetSpec) -> dict[str, Any]:
    """The data facts a trained model needs to predict: shape, classes, normalisation."""
    return {"name": spec.name, "in_shape": list(spec.in_shape), "num_classes": spec.num_classes,
            "mean": list(spec.mean), "std": list(spec.std)}


def spec_from_state(s: dict[str, Any]) -> DatasetSpec:
    return DatasetSpec(name=s["name"], in_shape=tuple(s["in_shape"]), num_classes=int(s["num_classes"]),
                       mean=tuple(s["mean"]), std=tuple(s["std"]), description="saved with a run")


def model_state(run, epoch: int) -> dict[str, Any]:
    """Weights and what is needed to rebuild and use them (``best.pt``)."""
    return {
        "epoch": epoch,
        "global_step": run.global_step,
        "config": run.cfg.to_dict(),
        "net": run.net.state_dict(),
        "aux": run.method.aux.state_dict(),
        "data_spec": spec_state(run.dataset.spec),
        "custom_net": run.custom_net,
        "history": run.history,
    }


def checkpoint_state(run, epoch: int, partial: EpochStats | None = None) -> dict[str, Any]:
    """Everything to continue exactly: ``epoch`` epochs done (plus ``partial`` of the next)."""
    rng = {"cpu": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None}
    return {**model_state(run, epoch), "method": run.method.state_dict(), "rng": rng,
            "partial_epoch": partial.state() if partial is not None and partial.steps else None}


def restore(run, state: dict[str, Any], path) -> tuple[int, EpochStats | None]:
    """Load ``state`` (read from ``path``) into ``run``; returns the epoch to continue and its
    partial sums. Anything that does not fit the run's config is a one-line DCLError naming it."""
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
    run.global_step = int(state.get("global_step", 0))
    partial = state.get("partial_epoch")
    return int(state["epoch"]), EpochStats.from_state(partial, run.device) if partial else None


def batches_per_epoch(split, batch_size: int) -> int:
    """Training batches in a full epoch (the last batch is dropped when it holds one sample)."""
    if not isinstance(split, Split):
        return len(split)
    n = len(split)
    return n // batch_size + (1 if n % batch_size > 1 else 0)


def summary(run) -> dict[str, Any]:
    """``summary.json``: final, best and (with a validation split) selected errors, costs, config.

    ``best_test_error``: the lowest test error over the epochs (the paper's convention; chosen
    on the test set). With a validation split, ``best_epoch`` is the epoch with the lowest
    ``val_error`` and ``test_error_at_best_val`` its test error (model selection without the
    test set); ``best.pt`` holds that epoch's weights.
    """
    cfg, h = run.cfg, run.history
    last = h[-1] if h else {}
    best_test = min(h, key=lambda r: r["test_error"]) if h else {}
    train_secs = sum(r["train_seconds"] for r in h)
    samples = sum(r["samples_per_second"] * r["train_seconds"] for r in h)
    full = batches_per_epoch(run.dataset.train, cfg.batch_size)
    out = {
        "arch": cfg.arch, "data": cfg.data, "method": cfg.method, "preset": cfg.preset,
        "epochs": len(h), "epochs_planned": cfg.epochs,
        "test_error": last.get("test_error"),
        "layer_test_errors": last.get("layer_test_errors", []),
        "best_test_error": best_test.get("test_error"),
        "best_test_epoch": best_test.get("epoch"),
    }
    vals = [r for r in h if r.get("val_error") is not None]
    if vals:
        best_val = min(vals, key=lambda r: r["val_error"])
        out.update({"selected_by": "val_error", "best_epoch": best_val["epoch"], "best_val_error": best_val["val_error"],
                    "test_error_at_best_val": best_val["test_error"],
                    "layer_test_errors_at_best_val": best_val["layer_test_errors"]})
    else:
        out.update({"selected_by": "test_error (no validation split: the paper's convention)",
                    "best_epoch": best_test.get("epoch")})
    out.update({
        "params": run.params,
        "delta_params": run.delta_params,
        "seconds_per_epoch": (sum(r["seconds"] for r in h) / len(h)) if h else None,
        "train_seconds_per_epoch": (train_secs / len(h)) if h else None,
        "samples_per_second": samples / train_secs if train_secs > 0 else None,
        "peak_memory_mb": peak_memory_mb(run.device),
        "global_steps": run.global_step,
        "batches_per_epoch": min(full, cfg.limit_train_batches) if cfg.limit_train_batches else full,
        "full_batches_per_epoch": full,
        "epochs_truncated": bool(cfg.limit_train_batches and cfg.limit_train_batches < full),
        "custom_net": run.custom_net,
        "device": str(run.device),
        **run.parallel.describe(run.device),  # world_size, replicas, stages, stage_split, backend, device_names
        "torch": torch.__version__,
        "python": platform.python_version(),
        **run.provenance,
        "config": cfg.to_dict(),
    })
    return out
