"""Batches from tensors, with the paper's augmentation done on whole batches (no per-sample
Python transforms).

Per batch: gather uint8 images -> move to the device -> random crop with zero padding and
random horizontal flip (train only) -> float, normalised ``(x/255 - mean) / std``.
Random numbers come from a generator seeded by ``(seed, epoch)``, so an epoch's batches and
augmentations are the same whether or not the run was resumed.

Data-parallel sharding (``shard=(i, n)``, :mod:`dcl.parallel`): every replica draws the same
global batch and the same augmentation numbers, then gathers and augments only its own
contiguous part of it, so n replicas together see exactly the batches of one process.
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from .datasets import DatasetSpec, Split
from .sampler import class_limited_order


def random_crop(x: Tensor, padding: int, offsets: Tensor) -> Tensor:
    """Crop ``x (B, C, H, W)`` back to H x W after zero-padding each side by ``padding``.

    ``offsets (B, 2)`` are the (top, left) corners in the padded image, in [0, 2*padding].
    One strided view holds every possible window, (B, 2p+1, 2p+1, C, H, W); indexing it by
    the offsets copies each sample's window in one gather (about 4x faster than indexing
    rows and columns separately).
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding)).contiguous()
    sb, sc, sh, sw = padded.stride()
    n = 2 * padding + 1
    windows = padded.as_strided((b, n, n, c, h, w), (sb, sh, sw, sc, sh, sw))
    return windows[torch.arange(b, device=x.device), offsets[:, 0], offsets[:, 1]]


def random_flip(x: Tensor, mask: Tensor) -> Tensor:
    """Flip ``x (B, C, H, W)`` left-right where ``mask (B,)`` is True."""
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


class Normalize:
    """``(x/255 - mean)/std`` for uint8 ``x (B, C, H, W)`` as one multiply-add, in float32;
    float ``x`` is taken as pixels already on [0, 1]: ``(x - mean)/std`` (user data)."""

    def __init__(self, spec: DatasetSpec, device: torch.device):
        std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale = 1.0 / (255.0 * std)
        self.float_scale = 1.0 / std
        self.shift = -mean / std

    def __call__(self, x: Tensor) -> Tensor:
        if x.is_floating_point():
            return torch.addcmul(self.shift, x.float(), self.float_scale)
        return torch.addcmul(self.shift, x.float(), self.scale)


def shard_bounds(size: int, index: int, count: int) -> tuple[int, int]:
    """``[lo, hi)`` of part ``index`` of ``count`` contiguous parts of ``size`` items (sizes differ by <= 1)."""
    return index * size // count, (index + 1) * size // count


class BatchLoader:
    """Iterate ``(x, y)`` batches of a :class:`Split` on ``device``.

    Args:
        train: shuffle, augment (if ``augment``), drop a final batch of 1 (BatchNorm needs 2).
        limit_batches: stop after this many batches (quick runs).
        shard: ``(i, n)``: yield only part i of n of every batch (data-parallel replicas); a
            final training batch is kept only if every part gets 2 samples.
        class_limited_epochs, class_limited_seeds: in the first ``class_limited_epochs`` epochs
            the training order is :func:`~dcl.data.sampler.class_limited_order` (N&E's CIFAR-100
            sim / predsim recipes), then plain shuffling.
    """

    def __init__(self, split: Split, spec: DatasetSpec, batch_size: int, *, train: bool, device="cpu",
                 augment: bool = True, seed: int = 0, limit_batches: int | None = None,
                 channels_last: bool = False, shard: tuple[int, int] | None = None,
                 class_limited_epochs: int = 0, class_limited_seeds: int = 20):
        self.split, self.spec = split, spec
        self.shard = shard
        self.class_limited_epochs, self.class_limited_seeds = class_limited_epochs, class_limited_seeds
        self.batch_size = int(batch_size)
        self.train = train
        self.augment = augment and train
        self.device = torch.device(device)
        self.seed = seed
        self.epoch = 0
        self.limit_batches = limit_batches
        self.channels_last = channels_last
        self.normalize = Normalize(spec, self.device)
        images = split.images
        if self.device.type != "cpu" and images.numel() < 2 ** 31:
            images = images.to(self.device)  # small enough: keep the whole split on the device
        self.images, self.labels = images, split.labels.to(self.device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.split)
        smallest = (2 * (self.shard[1] if self.shard else 1)) if self.train else 1  # BatchNorm needs 2
        batches = n // self.batch_size + (1 if n % self.batch_size >= smallest else 0)
        return min(batches, self.limit_batches) if self.limit_batches else batches

    def global_batch_size(self, bi: int) -> int:
        """Samples in batch ``bi`` over all shards."""
        return min(self.batch_size, len(self.split) - bi * self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.split)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if not self.train:
            order = None
        elif self.epoch < self.class_limited_epochs:
            order = class_limited_order(self.split.labels, self.batch_size, self.class_limited_seeds, g)
        else:
            order = torch.randperm(n, generator=g)
        for bi in range(len(self)):
            lo, hi = bi * self.batch_size, min((bi + 1) * self.batch_size, n)
            draws = self._draw(hi - lo, g) if self.augment else None
            if self.shard is not None:  # this replica's part of the global batch and its draws
                a, b = shard_bounds(hi - lo, *self.shard)
                order_part = order[lo + a:lo + b] if order is not None else None
                lo, hi = lo + a, lo + b
                draws = tuple(d[a:b] if d is not None else None for d in draws) if draws else None
            else:
                order_part = order[lo:hi] if order is not None else None
            if order_part is None:
                x, y = self.images[lo:hi], self.labels[lo:hi]
            else:
                idx = order_part.to(self.images.device)
                x, y = self.images[idx], self.labels[idx.to(self.labels.device)]
            x = x.to(self.device, non_blocking=True)
            if draws is not None:
                x = self._augment(x, draws)
            x = self.normalize(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def _draw(self, b: int, g: torch.Generator) -> tuple[Tensor | None, Tensor | None]:
        """The augmentation numbers of a batch of ``b``: crop offsets ``(b, 2)``, flip mask ``(b,)``."""
        p = self.spec.crop_padding
        offsets = torch.randint(0, 2 * p + 1, (b, 2), generator=g) if p else None
        mask = (torch.rand(b, generator=g) < 0.5) if self.spec.flip else None
        return offsets, mask

    def _augment(self, x: Tensor, draws: tuple[Tensor | None, Tensor | None]) -> Tensor:
        offsets, mask = draws
        if offsets is not None:
            x = random_crop(x, self.spec.crop_padding, offsets.to(x.device))
        if mask is not None:
            x = random_flip(x, mask.to(x.device))
        return x
