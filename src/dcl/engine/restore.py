"""Rebuild a trained run from its checkpoint, for evaluation and analysis.

    from dcl.engine.restore import load_trained, eval_error
    run = load_trained("runs/fc-mnist")                  # checkpoint.pt or its folder
    eval_error(run)                                       # the classifier head
    eval_error(run, "block:2")                            # block 2's dictionary prediction (Eq. 3)
    eval_error(run, "ensemble", p=4)                      # sum_l l^p s_l (App. C.3)
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from .checkpoint import checkpoint_config, load_checkpoint, load_fitting
from ..data import DATASETS
from ..errors import DCLError
from ..evaluate import Scores, check_prediction, collect_scores, prediction_error, sweep_p
from ..predictor import check_rebuildable
from .loop import Run, build_run


def load_trained(checkpoint, *, data_dir=None, device: str | None = None, dataset=None, net=None) -> Run:
    """The :class:`~dcl.engine.Run` saved in ``checkpoint`` (a file or run folder), weights loaded.

    ``device=None`` uses the training device when it is available, else the best one
    (``auto``). ``dataset`` (a :class:`~dcl.data.Dataset`) replaces loading the run's dataset
    from ``data_dir``. ``net``: the user's network for a run of ``dcl.train(cfg, net=...)``
    (freshly built; dcl cannot rebuild it from the config).
    """
    state = load_checkpoint(checkpoint)
    path = Path(checkpoint) / "checkpoint.pt" if Path(checkpoint).is_dir() else Path(checkpoint)
    check_rebuildable(state, checkpoint, net)
    cfg = checkpoint_config(state, path)
    if dataset is None and cfg.data not in DATASETS:
        raise DCLError(f"{checkpoint} was trained on your own data ({cfg.data!r}); evaluate it from Python: "
                       f"dcl.load(RUN).predict(images)")
    if device is None:
        device = cfg.device if not cfg.device.startswith("cuda") or torch.cuda.is_available() else "auto"
    # the saved dictionary replaces any freshly initialised one, so the reference checkpoint a
    # static dictionary took its norm from (dict_norm_from) is not needed any more
    cfg = cfg.replace(device=device, dict_norm_from=None)
    run = build_run(cfg, data_dir, dataset, net)
    config = f"arch {cfg.arch}, method {cfg.method}, data {cfg.data}"
    load_fitting(run.net, state["net"], "network", path, config)
    load_fitting(run.method.aux, state["aux"], "method", path, config)
    history = state.get("history", [])
    run.history = list(history) if isinstance(history, list) else []
    return run


def num_predicting_blocks(run: Run) -> int:
    """How many blocks give a layer-wise dictionary prediction (0 for methods without one)."""
    return run.method.num_layerwise


def check_run_prediction(run: Run, predict: str) -> str:
    """``predict`` if ``run``'s method offers it (head, block:N, ensemble or its own modes),
    else a DCLError listing the valid ones."""
    return check_prediction(predict, num_predicting_blocks(run), run.method.extra_predictions)


def run_scores(run: Run, split: str = "test") -> Scores:
    """Head and block scores of every sample of ``split`` (one pass)."""
    return collect_scores(run.net, run.method, run.eval_loader(split))


def eval_error(run: Run, predict: str = "head", p: float = 1.0, split: str = "test") -> float:
    """Top-1 error (percent) of ``predict`` (``head`` | ``block:N`` | ``ensemble``) on ``split``."""
    check_run_prediction(run, predict)
    return prediction_error(run_scores(run, split), predict, p)


def ensemble_sweep(run: Run, ps: Iterable[float] = range(11), split: str = "test") -> list[tuple[float, float]]:
    """``[(p, ensemble error %)]`` for each p (Fig. III)."""
    check_prediction("ensemble", num_predicting_blocks(run))
    return sweep_p(run_scores(run, split), ps)
