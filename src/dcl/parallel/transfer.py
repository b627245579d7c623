"""Activations and labels from one stage to the next: point-to-point sends, nothing comes back.

Per batch a stage sends three messages to the next stage of its replica (torch.distributed
``isend``; tags are not needed, messages between two ranks arrive in order):

    header  int64 (10,)  [n, n_global, dtype code, ndim, d1..d6]   (n_global: the batch over all replicas)
    h       (n, d1, .., d_ndim) in the activation's dtype          (the block output, detached)
    y       int64 (n,)                                             (the labels)

A send completes when the receiver has posted its receive (gloo and NCCL both rendezvous), so
the :class:`Sender` keeps at most ``max_in_flight`` batches outstanding: a stage runs at most
that many batches ahead of the next one and holds at most that many activations for it.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Iterator

import torch
import torch.distributed as dist
from torch import Tensor

from .comm import guard
from .mesh import Mesh

_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
_HEADER = 10


def _wait(work, mesh: Mesh) -> None:
    if work is not None:
        work.wait(mesh.wait_timeout())


class Sender:
    """Sends ``(h, y)`` batches to rank ``dst`` with at most ``max_in_flight`` outstanding."""

    def __init__(self, mesh: Mesh, dst: int, max_in_flight: int):
        self.mesh, self.dst, self.max_in_flight = mesh, dst, int(max_in_flight)
        self.pending: deque = deque()
        self.what = f"sending activations to rank {dst}"

    def send(self, h: Tensor, y: Tensor, n_global: int) -> None:
        """Queue batch ``h (n, ...)`` with labels ``y (n,)``; ``n_global``: its size over all replicas."""
        h = h.detach().contiguous()
        if h.dtype not in _DTYPES:
            raise TypeError(f"cannot send activations of dtype {h.dtype}")
        if h.dim() - 1 > _HEADER - 4:
            raise ValueError(f"cannot send activations with {h.dim()} dims")
        y = y.detach().to(torch.int64).contiguous()
        shape = list(h.shape[1:]) + [0] * (_HEADER - 4 - (h.dim() - 1))
        header = torch.tensor([h.shape[0], n_global, _DTYPES.index(h.dtype), h.dim() - 1, *shape],
                              dtype=torch.int64, device=h.device)
        with guard(self.mesh.where(), self.what):
            works = [dist.isend(header, self.dst)]
            if h.shape[0]:
                works += [dist.isend(h, self.dst), dist.isend(y, self.dst)]
        self.pending.append((works, (header, h, y)))  # the tensors live until their sends complete
        self.mesh.stats.p2p_bytes += sum(t.numel() * t.element_size() for t in (header, h, y))
        while len(self.pending) > self.max_in_flight:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        works, _ = self.pending.popleft()
        t0 = time.perf_counter()
        with guard(self.mesh.where(), self.what):
            for w in works:
                _wait(w, self.mesh)
        self.mesh.stats.waited("send", t0)

    def flush(self) -> None:
        """Wait until every queued batch has been received."""
        while self.pending:
            self._wait_oldest()


class ReceiveLoader:
    """The loader of a stage after the first: yields the ``(h, y)`` batches the previous stage
    sent, as many as that stage's loader has (``length``). ``on_start()`` is called before the
    first receive (the pipeline's fill), ``on_batch(y, n_global)`` with every batch before it
    is yielded.

    With ``sizes`` (every batch's sample count, known from the first stage's loader) the
    receive of batch t+1 is posted as soon as batch t has arrived, so the transfer runs while
    this stage computes batch t (the first batch's header gives the sample shape and dtype).
    """

    def __init__(self, mesh: Mesh, src: int, length: int, *, channels_last: bool = False, on_batch=None,
                 on_start=None, sizes: list[int] | None = None):
        self.mesh, self.src, self.length = mesh, src, int(length)
        self.channels_last = channels_last
        self.on_batch, self.on_start = on_batch, on_start
        self.sizes = sizes
        self.sample: tuple[tuple[int, ...], torch.dtype] | None = None  # per-sample shape, dtype
        self.what = f"receiving activations from rank {src}"

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        pass

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if self.on_start is not None and self.length:
            self.on_start()
        posted = None
        for t in range(self.length):
            t0 = time.perf_counter()
            h, y, n_global = self._complete(posted if posted is not None else self._post(None))
            self.mesh.stats.waited("receive", t0)
            posted = self._post(self.sizes[t + 1]) if self.sizes and t + 1 < self.length else None
            if self.channels_last and h.dim() == 4:
                h = h.contiguous(memory_format=torch.channels_last)
            if self.on_batch is not None:
                self.on_batch(y, n_global)
            yield h, y

    def _post(self, n: int | None):
        """Post the receives of the next batch: its header, and its tensors if ``n`` and the
        sample shape are known."""
        dev = self.mesh.device
        header = torch.empty(_HEADER, dtype=torch.int64, device=dev)
        bufs = None
        with guard(self.mesh.where(), self.what):
            works = [dist.irecv(header, self.src)]
            if n is not None and self.sample is not None:
                shape, dtype = self.sample
                bufs = (torch.empty((n, *shape), dtype=dtype, device=dev), torch.empty(n, dtype=torch.int64, device=dev))
                if n:
                    works += [dist.irecv(bufs[0], self.src), dist.irecv(bufs[1], self.src)]
        return header, works, bufs

    def _complete(self, posted) -> tuple[Tensor, Tensor, int]:
        header, works, bufs = posted
        dev = self.mesh.device
        with guard(self.mesh.where(), self.what):
            _wait(works[0], self.mesh)
            n, n_global, code, ndim, *shape = header.tolist()
            self.sample = (tuple(shape[:ndim]), _DTYPES[code])
            if bufs is None:
                h = torch.empty((n, *shape[:ndim]), dtype=_DTYPES[code], device=dev)
                y = torch.empty(n, dtype=torch.int64, device=dev)
                if n:
                    _wait(dist.irecv(h, self.src), self.mesh)
                    _wait(dist.irecv(y, self.src), self.mesh)
            else:
                h, y = bufs
                for w in works[1:]:
                    _wait(w, self.mesh)
        if tuple(h.shape) != (n, *shape[:ndim]) or h.dtype != _DTYPES[code]:
            raise RuntimeError(f"pipeline receive: expected a batch {tuple(h.shape)} {h.dtype}, the sender says "
                               f"{(n, *shape[:ndim])} {_DTYPES[code]}")
        return h, y, n_global
