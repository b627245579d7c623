"""The training engine: data -> network -> method -> epochs, evaluation, metrics, checkpoints.

    from dcl import resolve_config, train
    cfg = resolve_config(arch="fc", data="mnist", method="dcl", epochs=5)
    summary = train(cfg, out="runs/fc-mnist")       # checkpoint.pt, metrics, summary.json, ...

Each epoch: one pass of ``method.update`` over the training batches, the schedulers'
step, then test errors of the head and of every block's dictionary prediction (and validation
errors with ``val_split``). The run is seeded (model init from ``cfg.seed``; data order and
augmentation from ``(seed, epoch)``); ``checkpoint.pt`` is written atomically after every
epoch and every ``cfg.checkpoint_every`` steps, and ``resume=True`` continues from it to the
same numbers and weights as a run that was never interrupted. What the run folder holds and
what a resume may change: :mod:`dcl.engine.runfolder`; what is saved: :mod:`dcl.engine.state`; logging
and user hooks: :mod:`dcl.engine.callbacks`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig, check_fields_used, validate_config
from ..config.catalog import own_arch
from ..config.files import config_to_toml
from ..data import DATASETS, Dataset
from ..data.user import four_arrays, user_dataset
from ..devices import device_notes, peak_memory_mb
from ..errors import DCLError
from ..models import LocalNet
from ..parallel import Parallel
from ..parallel.dictionaries import config_for_stages
from ..parallel.mesh import env_rank
from .callbacks import Callback, CallbackList, Step, default_callbacks
from .checkpoint import RESUME_KEYS, atomic_write_text, checkpoint_config, load_checkpoint, save_checkpoint, write_json
from .lossguard import FiniteLossGuard
from .run import Run, build_run, evaluate_run
from .runfolder import holds_run, prepare_out, provenance, resume_config
from .lock import check_out_path, hold_run_folder
from .state import EpochStats, batches_per_epoch, checkpoint_state, model_state, restore, summary
from ..progress import Lines, watching


def train(cfg: TrainConfig | dict[str, Any] | None = None, out: str | Path | None = None, *, data_dir=None, resume: bool = False,
          overwrite: bool = False, progress: bool | None = None, log: Callable[[str], None] | None = print,
          dataset: Dataset | None = None, net: LocalNet | None = None, data: Any = None, train_data: Any = None,
          test_data: Any = None, val_data: Any = None, num_classes: int | None = None,
          callbacks: Iterable[Callback] = ()) -> dict[str, Any]:
    """Train ``cfg`` and return the summary dict (also written to ``out/summary.json``).

    ``out``: the run folder (None: nothing is written). A folder that holds a run is refused
    unless ``overwrite=True`` (or ``resume=True``). ``net``: train this network (e.g.
    ``dcl.models.make_local(model, ...)``) instead of building ``cfg.arch``. ``data``: your own
    tensors or arrays ``(x, y, x_test, y_test)`` (images ``(N, C, H, W)`` or ``(N, H, W)``, uint8
    or on [0, 1]; labels ``(N,)``). ``train_data`` / ``test_data`` / ``val_data``: your own data
    split by split (tensors, arrays, a Dataset or a DataLoader; :mod:`dcl.data.user`). ``callbacks``: :class:`dcl.engine.callbacks.Callback` objects.

    ``resume=True`` continues from ``out/checkpoint.pt`` with the checkpoint's config; ``cfg``
    may be None, a dict of the fields to change, or the run's config with only ``epochs`` (and
    device and logging fields) changed (:data:`dcl.engine.runfolder.RESUME_CHANGEABLE`); any other
    change is refused. Pass ``net`` / your data again.

    ``log`` (default ``print``) gets a start line, one line per epoch and notes; ``progress``
    shows bars (default: when stderr is a terminal or in Jupyter).

    ``out`` is locked for the whole run (:mod:`dcl.engine.lock`): a second run on the same folder
    is refused while this one runs. Launched as several ranks by torchrun (or with
    ``cfg.stages > 1``), each rank trains its part (:mod:`dcl.parallel`): rank 0 holds the
    lock, logs and writes ``out``; every rank returns the summary.
    """
    if data is not None:
        if train_data is not None or test_data is not None:
            raise DCLError("give data=(x, y, x_test, y_test) or train_data=/test_data=, not both")
        train_data, test_data = four_arrays(data)
    if out is not None:
        out = check_out_path(out, make=False)  # one line for '', a file, a folder inside a file
    if resume:
        if out is None:
            raise DCLError("--resume needs --out DIR (the folder holding checkpoint.pt)")
        if not (out / "checkpoint.pt").is_file():
            raise DCLError(f"no checkpoint at {out / 'checkpoint.pt'} to resume")
    elif not isinstance(cfg, TrainConfig):
        raise DCLError(f"train() needs a dcl.TrainConfig (e.g. dcl.resolve_config(arch='fc', data='mnist')), "
                       f"got {type(cfg).__name__}")
    else:
        validate_config(cfg)
        check_fields_used(cfg, custom_net=net is not None)
    kw = dict(data_dir=data_dir, resume=resume, overwrite=overwrite, progress=progress, log=log, dataset=dataset,
              net=net, train_data=train_data, test_data=test_data, val_data=val_data, num_classes=num_classes,
              callbacks=callbacks)
    if out is None or env_rank() != 0:  # no folder, or another rank of a torchrun run (rank 0 writes)
        return _train(cfg, out, **kw)
    with hold_run_folder(out, keep_if=None if resume else holds_run) as folder:  # a failed start leaves nothing
        return _train(cfg, folder, **kw)


def _train(cfg, out: Path | None, *, data_dir, resume, overwrite, progress, log, dataset, net, train_data, test_data,
           val_data, num_classes, callbacks) -> dict[str, Any]:
    state = path = None
    if resume:
        path = out / "checkpoint.pt"
        state = load_checkpoint(path, require=RESUME_KEYS)
        checkpoint_config(state, path)  # a damaged saved config names the file
        if isinstance(cfg, TrainConfig):
            cfg = config_for_stages(cfg)  # what the run derived from it under --stages is no change
        cfg = resume_config(state["config"], cfg, ignore=("arch",) if net is not None else ())
    elif out is not None and env_rank() == 0:
        prepare_out(out, overwrite, remove=False)  # a run there without overwrite: refused before any work
    if train_data is not None or test_data is not None:
        if dataset is not None:
            raise DCLError("give dataset= or train_data=/test_data=, not both")
        name = cfg.data if cfg.data not in DATASETS else "custom"
        dataset = user_dataset(train_data, test_data, val_data,
                               num_classes=num_classes or (net.num_classes if net is not None else None), name=name)
        cfg = cfg.replace(data=name)
    parallel = Parallel.start(cfg)  # one process: hooks that do nothing
    try:
        cfg = parallel.configure(cfg)
        run = build_run(cfg, data_dir, dataset, net)
        if not resume and out is not None and env_rank() == 0:
            prepare_out(out, overwrite)  # an overwritten run goes only once the new one has data and network
        parallel.attach(run)
        if not parallel.is_writer:
            out, log, progress = None, None, False
        result = _fit_run(run, out, state, path, progress, log, callbacks)
        parallel.barrier()  # no rank returns before rank 0 has written the run folder
        return result
    finally:
        parallel.close()


def _fit_run(run: Run, out: Path | None, state, path, progress, log, callbacks) -> dict[str, Any]:
    start_epoch, partial = restore(run, state, path) if state is not None else (0, None)
    if log:
        log(start_line(run, out, start_epoch, partial))
        for note in device_notes(run.cfg, run.device):
            log(note)
    if state is not None and start_epoch >= run.cfg.epochs:
        if log:
            log(f"nothing to train: {out} is already at epoch {start_epoch} of {run.cfg.epochs} "
                f"(raise --epochs to train longer)")
        return summary(run)
    result = fit(run, out, start_epoch=start_epoch, partial=partial, progress=progress, log=log, callbacks=callbacks)
    if log and out is not None:
        log(f"wrote {out}/: checkpoint.pt, metrics.jsonl, metrics.csv, steps.csv, summary.json, config.toml"
            + (", best.pt" if (out / "best.pt").exists() else "")
            + (", tensorboard/" if (out / "tensorboard").is_dir() else ""))
    return result


def start_line(run: Run, out: Path | None, start_epoch: int, partial: EpochStats | None) -> str:
    c = run.cfg
    own = f" ({c.method}'s own network)" if c.arch == own_arch(c.method) else ""
    s = (f"dcl train: {c.arch}{own} on {c.data} with {c.method} (preset {c.preset or '-'}), {c.epochs} epochs, "
         f"batch {c.batch_size}, lr {c.lr:g}, device {run.device}")
    if start_epoch or partial:
        s += f"; resuming after epoch {start_epoch}" + (f" + {partial.steps} steps" if partial else "")
    return s + (f"; run folder {out}" if out is not None else "")


def fit(run: Run, out: Path | None, *, start_epoch: int = 0, partial: EpochStats | None = None,
        progress: bool | None = None, log: Callable[[str], None] | None = None,
        callbacks: Iterable[Callback] = ()) -> dict[str, Any]:
    """Train ``run`` from ``start_epoch`` (plus the ``partial`` steps of it already done) to
    ``run.cfg.epochs``; write the run folder ``out`` (if given) as it goes."""
    cfg = run.cfg
    progress = watching() if progress is None else progress
    run.out = out
    run.provenance = provenance()
    cbs = CallbackList(default_callbacks(cfg, out, log) + list(callbacks))
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    loader = run.train_loader()
    if getattr(loader, "__len__", None) is not None and len(loader) == 0:
        raise DCLError(f"no training batch: the training split has {len(run.dataset.train)} sample(s), fewer than "
                       f"one batch of {cfg.batch_size} (a last batch of 1 is dropped); lower batch_size")
    full = batches_per_epoch(run.dataset.train, cfg.batch_size)
    run.method.epoch_share = min(1.0, cfg.limit_train_batches / full) if cfg.limit_train_batches and full else 1.0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.toml", config_to_toml(cfg, "the whole config of this run; "
                                                              "`dcl train --config` reads it back"))
    cbs.on_train_start(run)
    guard = FiniteLossGuard(run.device, out, hint=f"a lower lr than {cfg.lr:g} may help")
    for epoch in range(start_epoch, cfg.epochs):
        acc = partial if partial is not None else EpochStats()
        partial = None
        train_epoch(run, loader, epoch, acc, cbs, progress, guard, log)
        acc.loss_sum, acc.block_sum, acc.samples, acc.seconds = run.parallel.reduce_epoch(  # over every rank
            acc.loss_sum, acc.block_sum, acc.samples, acc.seconds)
        t_fit = time.perf_counter()
        fitted = run.method.epoch_end() or {}  # a method that fits at the epoch's end (CaFo) reports its losses
        acc.seconds += time.perf_counter() - t_fit  # that fit is training time too
        t0 = time.perf_counter()
        record = epoch_record(run, epoch, acc, progress)
        record.update({k: fitted[k] for k in ("train_loss", "block_losses") if k in fitted})
        record["seconds"] = acc.seconds + time.perf_counter() - t0
        run.history.append(record)
        if out is not None:
            write_epoch_files(run, out, record)
        cbs.on_epoch_end(run, record)
    result = summary(run)
    if out is not None:
        write_json(out / "summary.json", result)
    cbs.on_train_end(run, result)
    return result


def train_epoch(run: Run, loader, epoch: int, acc: EpochStats, cbs: Callback, progress: bool,
                guard: FiniteLossGuard | None = None, log: Callable[[str], None] | None = None) -> None:
    """One pass of ``method.update`` (the loader's batches come from checked splits, so they
    skip ``train_step``'s check); the first ``acc.steps`` batches were trained before the
    step checkpoint this run resumed from, so they are drawn (the data order and augmentation
    stay the same) but not trained on. ``guard`` stops the run at a NaN or infinite loss.
    Without a bar, an epoch of over a minute says how far it is through ``log`` every minute."""
    cfg, method = run.cfg, run.method
    loader.set_epoch(epoch)
    run.net.train()
    n = len(loader)
    done = acc.steps
    bar = tqdm(total=n, initial=done, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
               leave=False, dynamic_ncols=True)
    lines = Lines(f"epoch {epoch + 1}/{cfg.epochs}, step", n, None if progress else log, done)
    t0 = time.perf_counter()
    for k, (x, y) in enumerate(loader):
        if k < done:
            continue
        stats = method.update(x, y)
        if guard is not None:
            guard.check(stats, epoch + 1, acc.steps + 1)
        acc.add(stats, int(y.shape[0]))
        run.global_step += 1
        bar.update()
        lines.tick()
        if progress and acc.steps % 10 == 0:
            bar.set_postfix(loss=f"{float(acc.loss_sum) / acc.steps:.4f}")
        cbs.on_step(run, Step(run.global_step, epoch + 1, acc.steps, n, int(y.shape[0]), stats))
        if (cfg.checkpoint_every and run.out is not None and run.global_step % cfg.checkpoint_every == 0
                and acc.steps < n):
            if guard is not None:
                guard.flush()  # never checkpoint a step whose loss is not finite
            elapsed = time.perf_counter() - t0
            acc.seconds += elapsed
            save_checkpoint(run.out / "checkpoint.pt", checkpoint_state(run, epoch, acc))
            t0 += elapsed
    bar.close()
    if guard is not None:
        guard.flush()
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    acc.seconds += time.perf_counter() - t0


def epoch_record(run: Run, epoch: int, acc: EpochStats, progress: bool = False) -> dict[str, Any]:
    """One row of ``metrics.jsonl``: train losses, test (and val) errors, lr, throughput."""
    steps = acc.steps
    record = {
        "epoch": epoch + 1,
        "global_step": run.global_step,
        "train_loss": float(acc.loss_sum) / steps if steps else float("nan"),
        "block_losses": [float(v) / steps for v in acc.block_sum] if acc.block_sum is not None else [],
        **evaluate_run(run, "test", progress),
        "lr": run.method.lr(),
        "train_seconds": acc.seconds,
        "samples_per_second": acc.samples / acc.seconds if acc.seconds > 0 else 0.0,
        "peak_memory_mb": peak_memory_mb(run.device),
    }
    if run.dataset.val is not None:
        val = evaluate_run(run, "val", progress)
        record["val_error"] = val["test_error"]
        record["val_layer_errors"] = val["layer_test_errors"]
    return record


def write_epoch_files(run: Run, out: Path, record: dict[str, Any]) -> None:
    """After an epoch: checkpoint.pt, best.pt (a new best validation error), metrics.jsonl,
    summary.json; each written atomically."""
    epoch = record["epoch"]
    save_checkpoint(out / "checkpoint.pt", checkpoint_state(run, epoch))
    if "val_error" in record and all(r["val_error"] > record["val_error"] for r in run.history[:-1]):
        save_checkpoint(out / "best.pt", model_state(run, epoch))  # the first epoch with the lowest val error
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in run.history))
    write_json(out / "summary.json", summary(run))
