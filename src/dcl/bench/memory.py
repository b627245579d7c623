"""Training memory, counted tensor by tensor (any device, deterministic).

The *accounted* memory of a training step is the sum of four kinds of tensors:

* **saved**: tensors autograd keeps for the backward pass (activations, masks, indices),
  counted through :func:`torch.autograd.graph.saved_tensors_hooks`. Each storage is counted
  once however many graph nodes save it (views and in-place results share one storage), and
  its bytes are released when the last node holding it frees it (after its backward, or when
  the graph is dropped). Storages of the model's own parameters and buffers are not counted
  here (a conv saves its weight): they are the *weights*.
* **weights**: the parameters and buffers of the network and the method's own modules.
* **grads**: the ``.grad`` tensors alive at the moment.
* **optimizer state**: every tensor in every optimizer's ``state`` (AdamW: 2 per parameter).

:class:`SavedTensorMeter` counts the first; :class:`TrainingMemoryMeter` samples all four
whenever one of them can grow (a tensor saved, a gradient accumulated, an optimizer step) and
keeps the peak of their sum, so a method that frees a block's gradients before the next
block runs is credited for it. Transient tensors that autograd does not save (the gradients
flowing backward, kernel workspaces) are not counted; CUDA's ``max_memory_allocated`` and the
process RSS (see :mod:`dcl.bench.isolated`) measure those.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable

import torch
from torch import Tensor, nn

MB = 2 ** 20

# The hooks run inside compiled blocks (``--compile``): keep TorchDynamo from tracing them.
_eager = torch.compiler.disable


def storage_key(t: Tensor) -> tuple[Hashable, int]:
    """``(key, nbytes)`` of the storage behind ``t``: the same key for every view of it.

    Tensors without an ordinary storage (e.g. opaque MKL-DNN tensors) are keyed by identity
    and counted as ``numel * element_size``.
    """
    try:
        s = t.untyped_storage()
        return (t.device.type, t.device.index, s.data_ptr()), int(s.nbytes())
    except (RuntimeError, NotImplementedError, TypeError):
        return ("id", id(t)), int(t.numel() * t.element_size())


def tensors_bytes(tensors: Iterable[Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (each storage counted once)."""
    seen: dict[Hashable, int] = {}
    for t in tensors:
        key, n = storage_key(t)
        seen[key] = n
    return sum(seen.values())


class _Saved:
    """What the pack hook hands to autograd: the tensor plus a release when autograd drops it."""

    __slots__ = ("tensor", "meter", "key")

    def __init__(self, tensor: Tensor, meter: "SavedTensorMeter", key: Hashable):
        self.tensor = tensor
        self.meter = meter
        self.key = key

    @_eager
    def __del__(self) -> None:
        self.meter._release(self.key)


class SavedTensorMeter:
    """Live and peak bytes of the tensors autograd saves for backward inside this context.

        with SavedTensorMeter(exclude=model.parameters()) as m:
            loss = model(x).sum()          # m.live_bytes: what the graph holds now
            loss.backward()                # saved tensors released: m.live_bytes -> 0
        m.peak_bytes                       # the most held at once

    Args:
        exclude: tensors whose storages are not counted (the model's parameters and buffers).
        on_pack: called after every newly counted storage (used to sample a wider total).

    The count stays correct after the context exits: a graph built inside it releases its
    bytes whenever it is freed.
    """

    def __init__(self, exclude: Iterable[Tensor] = (), on_pack: Callable[[], None] | None = None):
        self._exclude = {storage_key(t)[0] for t in exclude}
        self._refs: dict[Hashable, list[int]] = {}  # storage key -> [holders, nbytes]
        self._lock = threading.Lock()
        self._hooks = None
        self.on_pack = on_pack
        self.live_bytes = 0
        self.peak_bytes = 0
        self.packed = 0  # tensors saved (before deduplication)

    # --- hooks ---------------------------------------------------------------------------
    @_eager
    def _pack(self, t: Tensor) -> Any:
        key, nbytes = storage_key(t)
        if key in self._exclude or nbytes == 0:
            return t
        with self._lock:
            self.packed += 1
            ref = self._refs.get(key)
            if ref is not None:
                ref[0] += 1
                grew = False
            else:
                self._refs[key] = [1, nbytes]
                self.live_bytes += nbytes
                self.peak_bytes = max(self.peak_bytes, self.live_bytes)
                grew = True
        if grew and self.on_pack is not None:
            self.on_pack()
        # detach: a saved output would otherwise hold its own grad_fn (a reference cycle that
        # only the garbage collector frees); autograd re-attaches what it needs on unpack.
        return _Saved(t.detach(), self, key)

    @staticmethod
    @_eager
    def _unpack(h: Any) -> Tensor:
        return h.tensor if type(h) is _Saved else h

    @_eager
    def _release(self, key: Hashable) -> None:
        with self._lock:
            ref = self._refs.get(key)
            if ref is None:
                return
            ref[0] -= 1
            if ref[0] == 0:
                self.live_bytes -= ref[1]
                del self._refs[key]

    # --- context -------------------------------------------------------------------------
    def __enter__(self) -> "SavedTensorMeter":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
        self._hooks = None

    def reset_peak(self) -> None:
        """Start a new peak from what is live now."""
        with self._lock:
            self.peak_bytes = self.live_bytes


@dataclass
class MemoryReport:
    """Bytes of one measured training step (see the module doc). ``peak_bytes`` is the
    largest sampled ``saved + weights + grads + optimizer_state``; the ``*_at_peak`` fields
    split it; ``saved_peak_bytes`` / ``grads_peak_bytes`` are each kind's own peak."""

    peak_bytes: int
    saved_peak_bytes: int
    weights_bytes: int
    grads_peak_bytes: int
    optimizer_state_bytes: int
    saved_at_peak: int
    grads_at_peak: int
    saved_tensors: int


class TrainingMemoryMeter:
    """The accounted peak of training steps run inside this context (any method, any device).

        meter = TrainingMemoryMeter([net, method.aux], method.optimizers)
        with meter:
            method.train_step(x, y)
        report = meter.report()

    The total is sampled after every newly saved storage, after every gradient accumulated
    into a ``.grad`` and after every optimizer step; :meth:`reset_peak` starts a new peak
    (e.g. after a first step that created the optimizer state).
    """

    def __init__(self, modules: Iterable[nn.Module], optimizers: Iterable[torch.optim.Optimizer]):
        self.modules = list(modules)
        self.optimizers = list(optimizers)
        self.params = list({id(p): p for m in self.modules for p in m.parameters()}.values())
        state = [t for m in self.modules for t in (*m.parameters(), *m.buffers())]
        self.weights_bytes = tensors_bytes(state)
        self.saved = SavedTensorMeter(exclude=state, on_pack=self.sample)
        self._handles: list[Any] = []
        self._reset()

    def _reset(self) -> None:
        self.peak_bytes = 0
        self.saved_at_peak = 0
        self.grads_at_peak = 0
        self.grads_peak_bytes = 0
        self.optimizer_state_bytes = 0

    # --- the parts -----------------------------------------------------------------------
    def grads_bytes(self) -> int:
        return tensors_bytes(p.grad for p in self.params if p.grad is not None)

    def state_bytes(self) -> int:
        return tensors_bytes(v for opt in self.optimizers for s in opt.state.values()
                             for v in s.values() if isinstance(v, Tensor))

    @_eager
    def sample(self, *_: Any) -> None:
        saved = self.saved.live_bytes
        grads = self.grads_bytes()
        state = self.state_bytes()
        total = saved + self.weights_bytes + grads + state
        self.grads_peak_bytes = max(self.grads_peak_bytes, grads)
        self.optimizer_state_bytes = max(self.optimizer_state_bytes, state)
        if total > self.peak_bytes:
            self.peak_bytes, self.saved_at_peak, self.grads_at_peak = total, saved, grads

    def reset_peak(self) -> None:
        self.saved.reset_peak()
        self._reset()
        self.sample()

    # --- context -------------------------------------------------------------------------
    def __enter__(self) -> "TrainingMemoryMeter":
        for p in self.params:
            self._handles.append(p.register_post_accumulate_grad_hook(self.sample))
        for opt in self.optimizers:
            self._handles.append(opt.register_step_post_hook(self.sample))
        self.saved.__enter__()
        self.sample()
        return self

    def __exit__(self, *exc) -> None:
        self.saved.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def report(self) -> MemoryReport:
        return MemoryReport(
            peak_bytes=self.peak_bytes, saved_peak_bytes=self.saved.peak_bytes,
            weights_bytes=self.weights_bytes, grads_peak_bytes=self.grads_peak_bytes,
            optimizer_state_bytes=self.optimizer_state_bytes, saved_at_peak=self.saved_at_peak,
            grads_at_peak=self.grads_at_peak, saved_tensors=self.saved.packed,
        )
