"""CIFAR-10, CIFAR-100 and CIFAR-20 from the python distribution (pickled batches).

Folders (under ``DATA_DIR``), each also accepting the distribution archive, which is
unpacked safely on first use (:mod:`dcl.data.archive`):

* ``cifar10/cifar-10-batches-py/`` ``data_batch_1..5``, ``test_batch``
  (or ``cifar10/cifar-10-python.tar.gz``);
* ``cifar100/cifar-100-python/`` ``train``, ``test`` (or ``cifar100/cifar-100-python.tar.gz``):
  ``cifar100`` uses the 100 fine labels;
* ``cifar20``: the CIFAR-100 images with the 20 coarse (super-class) labels (paper App. D);
  read from ``cifar20/`` if it exists, else from ``cifar100/`` (the same files).

Each batch is a dict with ``b"data"``: uint8 (N, 3072), channel-major rows (1024 red,
1024 green, 1024 blue values, each a 32x32 image in row-major order), and a list of int
labels under ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` / ``b"coarse_labels"``
(CIFAR-100). Batches are read with a restricted unpickler (:mod:`dcl.data.safe_pickle`).

Normalisation and train augmentation (REFERENCE.md "Data"): CIFAR-10 random crop 32 with
padding 4 + horizontal flip; CIFAR-100/20 flip only (the authors leave the crop off); all
three with the CIFAR-10 mean (0.4914, 0.4822, 0.4465) and std (0.2023, 0.1994, 0.2010).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DCLError
from .archive import locate
from .datasets import DatasetSpec, Split, register_dataset, to_split
from .safe_pickle import load_pickle

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

CIFAR10_TOP, CIFAR10_ARCHIVE = "cifar-10-batches-py", "cifar-10-python.tar.gz"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR100_TOP, CIFAR100_ARCHIVE = "cifar-100-python", "cifar-100-python.tar.gz"
#: the most bytes unpacked from either archive (each unpacks to 186 MB)
UNPACKED_MAX_BYTES = 200 << 20


#: the format's fixed sizes: images per file (CIFAR-10 batches and test files: 10,000;
#: CIFAR-100's train file: 50,000) and bytes per image
BATCH_IMAGES = {"train": 50_000}
DEFAULT_BATCH_IMAGES = 10_000
IMAGE_BYTES = 3 * 32 * 32


def read_cifar_batch(path: Path, label_key: bytes, max_images: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> images uint8 (N, 3, 32, 32), labels int64 (N,).

    A missing file, a pickle that is not a CIFAR batch, a ``data`` array of the wrong type or
    shape, more than ``max_images`` images (default: the format's size of that file, checked
    before the array is allocated), or non-integer labels raise DCLError naming the file.
    """
    if not path.is_file():
        raise DCLError(f"missing CIFAR batch file {path}")
    if max_images is None:
        max_images = BATCH_IMAGES.get(path.name, DEFAULT_BATCH_IMAGES)
    batch = load_pickle(path, max_array_bytes=max_images * IMAGE_BYTES)
    if not isinstance(batch, dict):
        raise DCLError(f"{path}: expected a pickled dict (a CIFAR batch), found {type(batch).__name__}")
    key_name = label_key.decode()
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(label_key, batch.get(key_name))
    if data is None or labels is None:
        keys = ", ".join(repr(k) for k in batch)
        raise DCLError(f"{path}: a CIFAR batch needs the keys b'data' and {label_key!r}; found {keys or 'none'}")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        what = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DCLError(f"{path}: b'data' must be a uint8 array of shape (N, 3072), found {what}")
    if data.shape[0] > max_images:
        raise DCLError(f"{path}: {data.shape[0]} images, more than the {max_images} a file of this format holds")
    try:
        labels = np.asarray(labels)
    except Exception:  # ragged or odd objects
        raise DCLError(f"{path}: {label_key!r} must be a list of integers") from None
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise DCLError(f"{path}: {label_key!r} must be a list of integers, found {labels.dtype} of shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_batches(spec: DatasetSpec, folder: Path, names: tuple[str, ...], label_key: bytes) -> Split:
    """Read and validate each batch (errors name the batch file), then join them."""
    parts = [to_split(*read_cifar_batch(folder / n, label_key), spec, str(folder / n)) for n in names]
    if len(parts) == 1:
        return parts[0]
    return Split(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))


def read_cifar10(spec: DatasetSpec, folder: Path) -> tuple[Split, Split]:
    batches = locate(folder, CIFAR10_TOP, CIFAR10_ARCHIVE, marker=CIFAR10_TEST, max_bytes=UNPACKED_MAX_BYTES)
    return (_read_batches(spec, batches, CIFAR10_TRAIN, b"labels"),
            _read_batches(spec, batches, (CIFAR10_TEST,), b"labels"))


def read_cifar100(spec: DatasetSpec, folder: Path, label_key: bytes) -> tuple[Split, Split]:
    files = locate(folder, CIFAR100_TOP, CIFAR100_ARCHIVE, marker="test", max_bytes=UNPACKED_MAX_BYTES)
    return (_read_batches(spec, files, ("train",), label_key),
            _read_batches(spec, files, ("test",), label_key))


def _register(name: str, num_classes: int, crop: int, read, description: str, **kw) -> DatasetSpec:
    spec = DatasetSpec(name=name, in_shape=(3, 32, 32), num_classes=num_classes, mean=CIFAR_MEAN, std=CIFAR_STD,
                       crop_padding=crop, flip=True, description=description, **kw)
    object.__setattr__(spec, "read", lambda folder, s=spec: read(s, folder))
    return register_dataset(spec)


_register("cifar10", 10, 4, read_cifar10,
          "CIFAR-10, 32x32 RGB, 50k/10k; random crop (pad 4) + flip")
_register("cifar100", 100, 0, lambda s, f: read_cifar100(s, f, b"fine_labels"),
          "CIFAR-100 (100 fine labels), 32x32 RGB, 50k/10k; flip")
_register("cifar20", 20, 0, lambda s, f: read_cifar100(s, f, b"coarse_labels"),
          "CIFAR-20: CIFAR-100 images, 20 coarse labels (reads cifar20/ or cifar100/); flip",
          alt_folders=("cifar100",),
          how_to_get="run `dcl data fetch cifar20` (it fetches CIFAR-100 into cifar100/)")
