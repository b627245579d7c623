"""What a training method is: how each block of a :class:`~dcl.models.LocalNet` learns.

A method owns its auxiliary modules (``aux``: e.g. the label dictionary; they are saved with
the network and counted in Δθ), its optimizers and schedulers, and one training step. The
engine (:mod:`dcl.train`) owns everything around it: data, epochs, evaluation, checkpoints.

Methods are registered in :data:`METHODS` by name: ``METHODS.register("name", Class)``.

Contract for a new method (one new file in this package):

* it implements :meth:`Method.build` and :meth:`Method.update` (one update on a batch); callers
  train through :meth:`Method.train_step`, which checks the batch and then calls ``update``
  (defined once, here; a method does not override it);
* every parameter update goes through :meth:`Method.optimizer_step` (the data-parallel runner
  averages gradients there, and clipping lives there);
* prediction at test time goes through :meth:`Method.predict_batch`: the default runs the
  network once and scores the head and every block's layer-wise prediction; a method with its
  own inference (e.g. Forward-Forward's label enumeration) overrides it and names its modes in
  :attr:`Method.extra_predictions` and :attr:`Method.default_prediction`;
* a local loss that reads a block somewhere other than its output names the
  :class:`~dcl.models.layers.Tap` in :attr:`Method.feature_tap`.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from ..checks import check_labels, check_tensor
from ..data.datasets import DatasetSpec
from ..errors import DCLError
from ..evaluate import BatchPredictions
from ..models.base import LocalNet
from ..optim import make_optimizer, make_scheduler
from ..registry import Registry

METHODS: Registry = Registry("method")


class Method:
    """Base class. Subclasses set ``name`` and implement :meth:`build` and :meth:`update`;
    callers train with :meth:`train_step` (the batch checked, then :meth:`update`)."""

    #: does this method train a label dictionary that gives layer-wise predictions (Eq. 3)?
    layerwise = False
    #: does a block's learning signal stay inside the block (stop-gradient between blocks)?
    local = False
    #: the Tap inside each block whose tensor the local loss and layer-wise predictions read
    #: (None: the block's output; "act": the activation before pooling and dropout)
    feature_tap: str | None = None
    #: prediction modes of this method beyond head / block:N / ensemble (e.g. ("goodness",))
    extra_predictions: tuple[str, ...] = ()
    #: the prediction mode whose error is reported as ``test_error`` (each epoch, dcl eval)
    default_prediction: str = "head"
    #: can a step be split into micro-batches whose gradients add up to the full batch's
    #: (``cfg.micro_batches``)? True for losses that are a mean over samples
    supports_micro_batches = False
    #: M when ``cfg.micro_batches`` is None
    default_micro_batches = 1
    #: does the method train in :meth:`epoch_end`, after :meth:`update` collected the batches
    #: (CaFo's fit)? Then a step's time does not predict an epoch's (``dcl reproduce --dry-run``)
    trains_at_epoch_end = False
    #: the method's own hyperparameters (:class:`dcl.config.Option`), read as ``self.cfg.NAME``
    options: tuple = ()
    #: the registered network this method was made for (CaFo's "cafo", DRTP's "drtp-fc"): a run
    #: that names no ``arch`` trains on it (``resolve_config``, read through the torch-free catalog)
    own_arch: str | None = None
    #: the share of the training set an epoch covers (below 1 when ``limit_train_batches`` cuts
    #: it; set by the engine): work a method does once per epoch whatever the batches (CaFo's
    #: fit) scales by it
    epoch_share: float = 1.0
    #: does :meth:`train_step` check its batch (shape, dtype, label range) before the update? (The
    #: engine calls :meth:`update` directly: its batches come from checked splits.)
    check_inputs: bool = True

    def check_batch(self, x: Tensor, y: Tensor) -> None:
        """``x`` must be a float tensor ``(B, *net.in_shape)`` on the method's device and ``y``
        integer labels ``(B,)`` in ``[0, Z)``; anything else is a one-line DCLError."""
        check_tensor(x, "x (the input batch)")
        shape = tuple(self.net.in_shape)
        if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise DCLError(f"x must have shape (B, {', '.join(map(str, shape))}) for this network, "
                           f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise DCLError(f"x must be a float tensor (normalised inputs), got dtype {x.dtype}")
        if x.shape[0] < 1:
            raise DCLError("x is an empty batch (B = 0)")
        if x.device.type != self.device.type:
            raise DCLError(f"x is on {x.device} but the method runs on {self.device}; move it with x.to(...)")
        weight = next(self.net.parameters(), None)
        if weight is not None and weight.is_floating_point() and x.dtype != weight.dtype:
            raise DCLError(f"x is {x.dtype} but the network's weights are {weight.dtype}; convert one "
                           f"(e.g. x.to({weight.dtype}))")
        if x.shape[0] < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.net.modules()):
            raise DCLError(f"a training batch of {x.shape[0]} sample is too small: the network's BatchNorm "
                           f"layers need 2 or more")
        check_labels(y, x.shape[0], self.net.num_classes, "y (the labels)")

    def train_step(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """One update on a batch ``x (B, *net.in_shape)``, ``y (B,)``: the public entry. Checks
        the batch (:meth:`check_batch`, when :attr:`check_inputs`), then runs :meth:`update` and
        returns its losses. Defined here once; a method implements :meth:`update`, not this."""
        if self.check_inputs:
            self.check_batch(x, y)
        return self.update(x, y)

    #: set by the data-parallel runner (:mod:`dcl.parallel.gradients`): averages ``opt``'s
    #: gradients across replicas; None in one process
    gradient_sync: Callable[[torch.optim.Optimizer], None] | None = None

    def __init__(self, net: LocalNet, cfg, device: torch.device | str = "cpu", *, data: DatasetSpec | None = None):
        """``data``: the facts of the data the method trains on (``in_shape``, ``num_classes``,
        the per-channel ``mean`` / ``std`` the inputs were normalised with); default: the
        network's input shape and classes with inputs taken as they are (mean 0, std 1)."""
        self.net = net
        self.cfg = cfg
        self.device = torch.device(device)
        self.data = data if data is not None else DatasetSpec.for_inputs(net.in_shape, net.num_classes)
        if tuple(self.data.in_shape) != tuple(net.in_shape) or self.data.num_classes != net.num_classes:
            raise DCLError(f"the network takes inputs {tuple(net.in_shape)} and {net.num_classes} classes, but "
                           f"{self.data.name} has {tuple(self.data.in_shape)} and {self.data.num_classes}")
        self.aux: nn.Module = nn.Module()
        self.optimizers: list[torch.optim.Optimizer] = []
        self.schedulers: list[Any] = []
        self.micro_batches = self.resolve_micro_batches(cfg)
        self._check_micro_batch_size()
        self.build()
        self.aux.to(self.device)

    # --- to implement ----------------------------------------------------------------
    def build(self) -> None:
        """Create ``self.aux`` and call :meth:`add_optimizer` for every optimizer."""
        raise NotImplementedError

    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """One update on a valid batch ``x (B, *net.in_shape)``, ``y (B,)`` (unchecked: callers
        go through :meth:`train_step`). Returns detached loss tensors: ``"loss"`` (the head's
        cross-entropy, ``()``) and, for local methods, ``"block_losses" (L-1,)``."""
        raise NotImplementedError

    @classmethod
    def config_for_stages(cls, cfg):
        """``cfg`` as this method runs it when its blocks are split over pipeline stages
        (``cfg.stages > 1``); unchanged unless the method must rewire something (adaptive DCL)."""
        return cfg

    def block_owned_params(self) -> list[tuple[nn.Parameter, int]]:
        """``(parameter, block index)``: parameters that only block ``i``'s step updates but other
        blocks read (DCL-O's dictionary); a pipeline broadcasts them from that block's stage."""
        return []

    def train_loader_options(self) -> dict[str, Any]:
        """Keyword arguments for the training :class:`~dcl.data.BatchLoader` that this method's
        recipe needs (e.g. N&E's class-limited batches); none by default."""
        return {}

    def block_logits(self, i: int, h: Tensor) -> Tensor | None:
        """Layer-wise prediction scores ``(B, Z)`` of block ``i`` from its feature (the tensor
        at :attr:`feature_tap`, else its output), or None."""
        return None

    @property
    def num_layerwise(self) -> int:
        """How many blocks give a layer-wise prediction (``block:N`` modes)."""
        return len(self.net.blocks) if self.layerwise else 0

    def predict_batch(self, x: Tensor, on_block: Callable[[int, Tensor], None] | None = None) -> BatchPredictions:
        """Scores of one batch ``x (B, ...)`` in eval mode (no gradients): the head's logits
        ``(B, Z)``, each block's layer-wise scores (:meth:`block_logits`) and, for methods with
        their own inference, the :attr:`extra_predictions` by name. ``on_block(i, h_i)`` is
        called with every block's output (probes: super-labels, analyses)."""
        h, blocks = self.score_blocks(x, range(len(self.net.blocks)), on_block)
        return BatchPredictions(head=self.net.head(h), blocks=blocks)

    def score_blocks(self, h: Tensor, indices, on_block=None) -> tuple[Tensor, list[Tensor]]:
        """Run blocks ``indices`` (consecutive) from ``h``; return the last output and the
        layer-wise logits of those blocks that give them (``on_block(i, h_i)`` after each)."""
        blocks = []
        for i in indices:
            h, feature = self.net.block_forward(i, h, self.feature_tap)
            s = self.block_logits(i, feature)
            if s is not None:
                blocks.append(s)
            if on_block is not None:
                on_block(i, h)
        return h, blocks

    # --- shared machinery --------------------------------------------------------------
    @classmethod
    def resolve_micro_batches(cls, cfg) -> int:
        """M for this method: ``cfg.micro_batches``, else :attr:`default_micro_batches`."""
        m = getattr(cfg, "micro_batches", None)
        m = cls.default_micro_batches if m is None else int(m)
        if m < 1:
            raise DCLError(f"micro_batches must be >= 1, got {m}")
        if m > 1 and not cls.supports_micro_batches:
            raise DCLError(f"method {cfg.method!r} does not take micro_batches={m} (its loss is not a mean over "
                           f"samples, or it runs whole batches); use micro_batches=1, or bp-accum / bp-ckpt / dcl")
        if m > cfg.batch_size:
            raise DCLError(f"micro_batches={m} is larger than the batch size {cfg.batch_size}")
        return m

    def _check_micro_batch_size(self) -> None:
        if self.micro_batches > 1 and self.cfg.batch_size // self.micro_batches < 2 and \
                any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.net.modules()):
            raise DCLError(f"micro_batches={self.micro_batches} leaves micro-batches of 1 sample of the batch of "
                           f"{self.cfg.batch_size}; the network's BatchNorm layers need 2 or more")

    def split_batch(self, x: Tensor, y: Tensor) -> list[tuple[Tensor, Tensor, float]]:
        """``[(x_m, y_m, n_m / B)]``: the batch in :attr:`micro_batches` near-equal parts (views).
        A mean loss over part m times ``n_m / B`` summed over the parts is the batch's mean loss,
        so the summed gradients are the batch's (exactly, unless BatchNorm statistics or dropout
        masks differ between a micro-batch and the whole batch: docs/benchmarks.md)."""
        n = x.shape[0]
        m = min(self.micro_batches, n)
        if m > 1 and any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in self.net.modules()):
            m = min(m, n // 2)  # BatchNorm needs 2 samples or more in every part (a short last batch)
        if m <= 1:
            return [(x, y, 1.0)]
        return [(xs, ys, xs.shape[0] / n) for xs, ys in zip(x.tensor_split(m), y.tensor_split(m))]

    def add_optimizer(self, params) -> torch.optim.Optimizer:
        opt = make_optimizer(params, self.cfg)
        self.optimizers.append(opt)
        self.schedulers.append(make_scheduler(opt, self.cfg))
        return opt

    def optimizer_step(self, opt: torch.optim.Optimizer, clip_value: float | None = None) -> None:
        """Apply ``opt`` to the gradients its parameters hold, then free them (``set_to_none``).

        Every update of every method goes through here: :meth:`sync_gradients` first (a no-op in
        one process; the data-parallel runner averages across ranks there), then element-wise
        clipping to ``[-clip_value, clip_value]`` if given (PFF), then the step.
        """
        self.sync_gradients(opt)
        if clip_value is not None:
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_value_(params, clip_value)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def sync_gradients(self, opt: torch.optim.Optimizer) -> None:
        """Hook run before every step on ``opt``'s gradients: :attr:`gradient_sync` when the
        data-parallel runner set it; nothing to do in one process."""
        if self.gradient_sync is not None:
            self.gradient_sync(opt)

    def epoch_end(self) -> dict[str, Any] | None:
        """Called by the engine after an epoch's last batch, before evaluation: steps the
        schedulers. A method that trains at the end of an epoch (CaFo fits its predictors on
        the whole training set) does so here and may return ``{"train_loss": float,
        "block_losses": [float]}``, which the engine reports instead of the per-batch means."""
        for s in self.schedulers:
            s.step()
        return None

    def lr(self) -> float:
        return self.optimizers[0].param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for o, s in zip(self.optimizers, state["optimizers"], strict=True):
            o.load_state_dict(s)
        for o, s in zip(self.schedulers, state["schedulers"], strict=True):
            o.load_state_dict(s)
