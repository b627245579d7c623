"""Your own data: tensors, numpy arrays, a ``torch.utils.data.Dataset`` or a ``DataLoader``.

    import dcl
    summary = dcl.train(cfg, data=(x_train, y_train, x_test, y_test))
    summary = dcl.train(cfg, train_data=(x_train, y_train), test_data=(x_test, y_test))
    summary = dcl.train(cfg, train_data=TensorDataset(x, y), test_data=test_loader, net=net)

Each split may be:

* ``(images, labels)``: tensors or numpy arrays; images ``(N, C, H, W)`` or ``(N, H, W)``,
  uint8 pixels or floats on [0, 1]; labels ``(N,)`` integers in [0, Z);
* a map-style ``Dataset`` of ``(image, label)`` pairs: read once into memory (its transforms
  run once), then as above;
* a ``DataLoader``: used as it is, every epoch (its batch size, shuffling and transforms);
  its batches go to the model unchanged except uint8 images, which are scaled to [0, 1].

The first two are batched, shuffled and normalised by the engine (``(x - mean) / std`` per
channel, mean and std measured on the training images unless given), exactly as the built-in
datasets are, so a resumed run repeats an uninterrupted one exactly. ``cfg.data`` becomes
``name`` (default ``"custom"``); ``num_classes`` defaults to the largest label + 1 (or the
network's, with ``net=``). A dataset on disk in a standard format is better registered by name:
see :func:`dcl.data.register_dataset` and docs/datasets.md.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from ..errors import DCLError
from .datasets import Dataset, DatasetSpec, Split


def _tensor(a: Any, what: str) -> Tensor:
    if isinstance(a, Tensor):
        return a.detach().cpu()
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))
    try:
        return torch.as_tensor(np.asarray(a))
    except (TypeError, ValueError):
        raise DCLError(f"{what} must be a tensor or a numpy array, got {type(a).__name__}") from None


def _split_from_arrays(images: Any, labels: Any, what: str) -> Split:
    x, y = _tensor(images, f"{what} images"), _tensor(labels, f"{what} labels")
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise DCLError(f"{what} images must be (N, C, H, W) or (N, H, W), got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise DCLError(f"{what} images must be uint8 pixels or floats on [0, 1], got {x.dtype}")
    if x.is_floating_point():
        x = x.float()
    y = y.reshape(-1)
    if y.is_floating_point() or y.dtype == torch.bool:
        raise DCLError(f"{what} labels must be integer class indices, got {y.dtype}")
    if y.shape[0] != x.shape[0]:
        raise DCLError(f"{what}: {x.shape[0]} images but {y.shape[0]} labels")
    return Split(x.contiguous(), y.long())


def _split_from_dataset(ds: torch.utils.data.Dataset, what: str) -> Split:
    try:
        n = len(ds)
    except TypeError:
        raise DCLError(f"{what}: an iterable Dataset has no length; pass a DataLoader over it instead") from None
    if n == 0:
        raise DCLError(f"{what} is empty")
    xs, ys = [], []
    for i in range(n):
        item = ds[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise DCLError(f"{what}[{i}] must be an (image, label) pair, got {type(item).__name__}")
        xs.append(_tensor(item[0], f"{what} image"))
        ys.append(int(item[1]))
    try:
        x = torch.stack(xs)
    except RuntimeError as e:
        raise DCLError(f"{what}: images differ in shape ({str(e).splitlines()[0]})") from None
    return _split_from_arrays(x, torch.tensor(ys), what)


def as_split(data: Any, what: str) -> Split | torch.utils.data.DataLoader:
    """A :class:`Split` for arrays / a Dataset, or the DataLoader itself."""
    if isinstance(data, torch.utils.data.DataLoader):
        return data
    if isinstance(data, Split):
        return data
    if isinstance(data, torch.utils.data.Dataset):
        return _split_from_dataset(data, what)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _split_from_arrays(data[0], data[1], what)
    raise DCLError(f"{what} must be (images, labels), a torch Dataset or a DataLoader; got {type(data).__name__}")


def _first_batch(loader: torch.utils.data.DataLoader, what: str) -> tuple[Tensor, Tensor]:
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise DCLError(f"{what}: batches must be (images, labels) pairs")
        return _tensor(batch[0], what), _tensor(batch[1], what)
    raise DCLError(f"{what} yields no batches")


def _labels_max(split: Split | torch.utils.data.DataLoader) -> int:
    if isinstance(split, Split):
        return int(split.labels.max()) if len(split) else -1
    return max(int(_tensor(y, "labels").max()) for _, y in split)


def _channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std on [0, 1] pixels."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    x = x.transpose(0, 1).reshape(x.shape[1], -1)
    std = x.std(dim=1, unbiased=False).clamp_min(1e-6)
    return tuple(float(v) for v in x.mean(dim=1)), tuple(float(v) for v in std)


def four_arrays(data: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """``(x, y, x_test, y_test)`` -> ``((x, y), (x_test, y_test))``: train images ``(N, C, H, W)``
    or ``(N, H, W)``, train labels ``(N,)``, test images and labels alike."""
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        got = f"{len(data)} items" if isinstance(data, (tuple, list)) else type(data).__name__
        raise DCLError(f"data must be (x, y, x_test, y_test): train images, train labels, test images, "
                       f"test labels; got {got}")
    return (data[0], data[1]), (data[2], data[3])


def user_dataset(train: Any, test: Any, val: Any = None, *, num_classes: int | None = None,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 name: str = "custom") -> Dataset:
    """A :class:`Dataset` from a user's splits (module doc); ``mean``/``std`` per channel on
    [0, 1] pixels (default: measured on ``train``; ``(0,) / (1,)`` for a DataLoader)."""
    if test is None:
        raise DCLError("test_data is needed: the engine reports the test error every epoch "
                       "(pass your validation data there if you hold no test set)")
    splits = {"train": as_split(train, "train_data"), "test": as_split(test, "test_data"),
              "val": as_split(val, "val_data") if val is not None else None}
    tr = splits["train"]
    sample = tr.images[:1] if isinstance(tr, Split) else _first_batch(tr, "train_data")[0][:1]
    if sample.dim() == 3:
        sample = sample.unsqueeze(1)
    in_shape = tuple(int(s) for s in sample.shape[1:])
    for key in ("test", "val"):
        s = splits[key]
        if s is None:
            continue
        shape = tuple(s.images.shape[1:]) if isinstance(s, Split) else tuple(_first_batch(s, key)[0].shape[1:])
        if len(shape) == 2:
            shape = (1, *shape)
        if shape != in_shape:
            raise DCLError(f"{key}_data images are {shape}, train_data images {in_shape}")
    if num_classes is None:
        num_classes = 1 + max(_labels_max(s) for s in splits.values() if s is not None)
    if num_classes < 2:
        raise DCLError(f"a classifier needs at least 2 classes; the labels give {num_classes}")
    if mean is None or std is None:
        if isinstance(tr, Split):
            m, s = _channel_stats(tr.images)
        else:
            m, s = (0.0,) * in_shape[0], (1.0,) * in_shape[0]
        mean = m if mean is None else mean
        std = s if std is None else std
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if len(mean) != in_shape[0] or len(std) != in_shape[0]:
        raise DCLError(f"mean and std need one value per channel ({in_shape[0]}), got {mean} and {std}")
    for key, s in splits.items():
        if isinstance(s, Split) and len(s) and (int(s.labels.min()) < 0 or int(s.labels.max()) >= num_classes):
            raise DCLError(f"{key}_data labels must lie in [0, {num_classes}), found "
                           f"[{int(s.labels.min())}, {int(s.labels.max())}]")
    spec = DatasetSpec(name=name, in_shape=in_shape, num_classes=int(num_classes), mean=mean, std=std,
                       description="user data")
    return Dataset(spec, splits["train"], splits["test"], None, splits["val"])


class DeviceLoader:
    """A user's DataLoader as the engine's loader: batches moved to ``device``, uint8 images
    scaled to [0, 1] and normalised by ``spec``'s mean/std, at most ``limit_batches`` a pass."""

    def __init__(self, loader: torch.utils.data.DataLoader, spec: DatasetSpec, device, limit_batches=None,
                 channels_last: bool = False):
        from .loader import Normalize
        self.loader, self.device = loader, torch.device(device)
        self.limit_batches, self.channels_last = limit_batches, channels_last
        self.normalize = Normalize(spec, self.device)

    def set_epoch(self, epoch: int) -> None:
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.loader)
        return min(n, self.limit_batches) if self.limit_batches else n

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for i, (x, y) in enumerate(self.loader):
            if self.limit_batches and i >= self.limit_batches:
                return
            x = _tensor(x, "a batch").to(self.device, non_blocking=True)
            if x.dim() == 3:
                x = x.unsqueeze(1)
            x = self.normalize(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, _tensor(y, "labels").reshape(-1).long().to(self.device)
