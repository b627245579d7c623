"""A trained run loaded from its checkpoint: predict classes and probabilities, evaluate, analyse.

    import dcl
    model = dcl.load("runs/fc-mnist")                  # or RUN/best.pt; dcl.load(RUN, net=net)
    pred = model.predict(images)                        # uint8 or [0, 1] float images
    pred.classes, pred.probs                            # (N,), (N, Z)
    model.predict(images, mode="block:2")               # a block's dictionary (Eq. 3)
    model.predict(images, mode="ensemble", p=4)         # sum_l l^p s_l (App. C.3)
    eval_error(model, "block:2")                        # dcl.engine.run: on the run's test split

:func:`load` is the one way to load a run. The :class:`Model` it returns is a
:class:`~dcl.engine.run.Run` (network, method, config, device, history), so everything that
evaluates or analyses a run takes it; its ``dataset`` is read on first use (from ``data_dir``,
else ``$DCL_DATA_DIR``; or pass ``dataset=``), and predicting needs no data files.

Images: ``(N, C, H, W)``, ``(N, H, W, C)``, ``(N, H, W)`` (one channel), or one image
``(C, H, W)`` / ``(H, W)``; uint8 pixels or floats on [0, 1], as tensors or numpy arrays. They
are normalised exactly as the run's data were in training: the checkpoint records the input
shape, classes and normalisation. ``mode``: ``head``, ``block:N``, ``ensemble`` or the
method's own modes (:attr:`Model.modes`); default: the mode the run reported as
``test_error``. ``probs`` is the softmax of that mode's scores.

A run of your own network (``dcl.train(cfg, net=...)``) is loaded with the same network
passed again, freshly built: ``dcl.load(RUN, net=make_my_net())``.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from .config import TrainConfig, validate_config
from .data import DATASETS, Dataset, DatasetSpec, Normalize, load_dataset
from .devices import resolve_device
from .engine.checkpoint import checkpoint_config, load_checkpoint, load_fitting
from .engine.run import Run
from .engine.state import spec_from_state
from .errors import DCLError
from .evaluate import Scores, check_prediction, prediction_choices, prediction_scores
from .methods import build_method
from .models import ARCHS, LocalNet, build_model


@dataclass
class Prediction:
    classes: Tensor      # (N,) int64
    probs: Tensor        # (N, Z) softmax of the mode's scores
    scores: Tensor       # (N, Z) the mode's raw scores
    mode: str


def custom_net_message(where: Any, arch: str) -> str:
    return (f"{where} was trained on your own network ({arch!r}), which dcl cannot rebuild from its config; "
            f"load it from Python with dcl.load(RUN, net=YOUR_NET), or pass --net MODULE:FUNCTION")


def check_rebuildable(state: dict[str, Any], where: Any, net: LocalNet | None) -> None:
    """A DCLError when the run needs a network that only the user can build."""
    arch = state["config"].get("arch", "?")
    if net is None and (state.get("custom_net") or arch not in ARCHS):
        raise DCLError(custom_net_message(where, arch))


def load_net_factory(spec: str) -> Callable[[], LocalNet]:
    """``"package.module:function"`` or ``"path/to/file.py:function"`` -> the function."""
    if ":" not in spec:
        raise DCLError(f"--net {spec!r}: expected MODULE:FUNCTION or FILE.py:FUNCTION")
    where, name = spec.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise DCLError(f"--net: no file {where}")
            mspec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(mspec)
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ImportError as e:
        raise DCLError(f"--net: cannot import {where}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise DCLError(f"--net: {where} has no function {name!r}")
    return fn


class Model(Run):
    """A trained run (:func:`load`): a :class:`~dcl.engine.run.Run` whose ``dataset`` is read on
    first use, with the run's preprocessing (``spec``: shape, classes, normalisation), the
    epoch it was saved at, and :meth:`predict`."""

    def __init__(self, net: LocalNet, method, cfg: TrainConfig, spec: DatasetSpec, device: torch.device,
                 epoch: int, history: list[dict[str, Any]], *, dataset: Dataset | None = None, data_dir=None,
                 custom_net: bool = False, where: Any = None):
        self.spec, self.epoch, self.data_dir, self.where = spec, epoch, data_dir, where
        super().__init__(cfg, dataset, net, method, device, history=history, custom_net=custom_net)
        self.normalize = Normalize(spec, device)
        net.eval()

    @property
    def dataset(self) -> Dataset:
        """The run's data: given to :func:`load`, else ``cfg.data`` read on first use."""
        if self._dataset is None:
            cfg = self.cfg
            if cfg.data not in DATASETS:
                raise DCLError(f"{self.where} was trained on your own data ({cfg.data!r}); evaluate it from "
                               f"Python: dcl.load(RUN).predict(images), or dcl.load(RUN, dataset=...)")
            self._dataset = load_dataset(cfg.data, self.data_dir, val_split=cfg.val_split, seed=cfg.seed)
        return self._dataset

    @dataset.setter
    def dataset(self, value: Dataset | None) -> None:
        self._dataset = value

    @property
    def modes(self) -> list[str]:
        """Valid ``mode`` values (``block:N`` spelled out)."""
        return prediction_choices(self.method.num_layerwise, self.method.extra_predictions)

    @property
    def default_mode(self) -> str:
        return self.method.default_prediction

    def preprocess(self, images: Any) -> Tensor:
        """``images`` (module doc) -> normalised float ``(N, C, H, W)`` on the model's device."""
        x = torch.from_numpy(np.array(images)) if isinstance(images, np.ndarray) else images  # a copy: writable
        if not isinstance(x, Tensor):
            raise DCLError(f"images must be a tensor or a numpy array, got {type(images).__name__}")
        c, h, w = self.spec.in_shape
        shape = tuple(x.shape)
        if x.dim() == 2 and c == 1:
            x = x[None, None]
        elif x.dim() == 3:
            if shape == (c, h, w):
                x = x[None]
            elif shape == (h, w, c):
                x = x.permute(2, 0, 1)[None]
            elif c == 1 and shape[1:] == (h, w):
                x = x[:, None]
        elif x.dim() == 4 and shape[1:] != (c, h, w) and shape[1:] == (h, w, c):
            x = x.permute(0, 3, 1, 2)
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise DCLError(f"images of shape {shape} do not fit this model: it takes (N, {c}, {h}, {w}) "
                           f"(or (N, {h}, {w}, {c}){', (N, %d, %d)' % (h, w) if c == 1 else ''})")
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise DCLError(f"images must be uint8 pixels or floats on [0, 1], got {x.dtype}")
        return self.normalize(x.to(self.device))

    @torch.inference_mode()
    def predict(self, images: Any, mode: str | None = None, p: float = 1.0,
                batch_size: int | None = None) -> Prediction:
        """Classes and probabilities of ``images`` by ``mode`` (module doc)."""
        mode = mode or self.default_mode
        check_prediction(mode, self.method.num_layerwise, self.method.extra_predictions)
        x = self.preprocess(images)
        bs = batch_size or self.cfg.eval_batch_size
        parts = []
        for i in range(0, x.shape[0], bs):
            out = self.method.predict_batch(x[i:i + bs])
            s = Scores(labels=torch.empty(0), head=out.head, blocks=list(out.blocks), extra=dict(out.extra))
            parts.append(prediction_scores(s, mode, p).float().cpu())
        scores = torch.cat(parts) if parts else torch.empty(0, self.spec.num_classes)
        return Prediction(scores.argmax(dim=1), scores.softmax(dim=1), scores, mode)

    def __repr__(self) -> str:
        c = self.cfg
        return f"Model({c.arch} on {c.data}, {c.method}, epoch {self.epoch}, device {self.device})"


def load(run: str | Path, net: LocalNet | None = None, device: str | None = None, *,
         dataset: Dataset | None = None, data_dir=None) -> Model:
    """The trained run in ``run`` (a run folder, its ``checkpoint.pt`` or ``best.pt``), weights loaded.

    ``net``: your own network, freshly built as it was for training (needed for runs of
    ``dcl.train(cfg, net=...)``). ``device``: default the training device when present, else
    the best available (``auto``). ``dataset`` (a :class:`~dcl.data.Dataset`) / ``data_dir``:
    the data that evaluation and analyses read (default: ``cfg.data`` from ``data_dir``, read on
    first use); predicting needs neither.
    """
    state = load_checkpoint(run)
    path = Path(run) / "checkpoint.pt" if Path(run).is_dir() else Path(run)
    check_rebuildable(state, run, net)
    cfg = checkpoint_config(state, path)
    validate_config(cfg)
    if "data_spec" in state:
        spec = spec_from_state(state["data_spec"])
    else:
        spec = dataset.spec if dataset is not None else DATASETS.get(cfg.data)
    if dataset is not None and (tuple(dataset.spec.in_shape), dataset.spec.num_classes) != (tuple(spec.in_shape),
                                                                                           spec.num_classes):
        raise DCLError(f"{run} was trained on inputs {tuple(spec.in_shape)} with {spec.num_classes} classes; the "
                       f"dataset given has {tuple(dataset.spec.in_shape)} and {dataset.spec.num_classes}")
    if device is None:
        device = cfg.device if not cfg.device.startswith("cuda") or torch.cuda.is_available() else "auto"
    dev = resolve_device(device)
    # the saved dictionary replaces any freshly initialised one, so the reference checkpoint a
    # static dictionary took its norm from (dict_norm_from) is not needed any more
    cfg = cfg.replace(device=str(dev), dict_norm_from=None, compile=False)
    custom = net is not None
    with torch.random.fork_rng(devices=[]):  # building must not move the caller's RNG
        torch.manual_seed(cfg.seed)
        if net is None:
            net = build_model(cfg, spec)
        elif tuple(net.in_shape) != tuple(spec.in_shape) or net.num_classes != spec.num_classes:
            raise DCLError(f"the network takes inputs {tuple(net.in_shape)} and {net.num_classes} classes, but the "
                           f"run was trained on {tuple(spec.in_shape)} and {spec.num_classes}")
        net = net.to(dev)
        if cfg.channels_last:
            net = net.to(memory_format=torch.channels_last)
        method = build_method(net, cfg, dev, data=spec)
    if custom:
        try:
            net.load_state_dict(state["net"])
            method.aux.load_state_dict(state["aux"])
        except RuntimeError as e:
            raise DCLError(f"{run}: the weights do not fit the network given: {str(e).splitlines()[0]}") from None
    else:
        config = f"arch {cfg.arch}, method {cfg.method}, data {cfg.data}"
        load_fitting(net, state["net"], "network", path, config)
        load_fitting(method.aux, state["aux"], "method", path, config)
    history = state.get("history", [])
    return Model(net, method, cfg, spec, dev, int(state["epoch"]), list(history) if isinstance(history, list) else [],
                 dataset=dataset, data_dir=data_dir, custom_net=custom, where=run)
