"""Dataset registry, on-disk locations and the public entry point :func:`load_dataset`.

A dataset lives in ``DATA_DIR/<name>/`` (or one of its ``alt_folders``, e.g. CIFAR-20 reads
``DATA_DIR/cifar100/``). ``DATA_DIR`` is, in order: the ``data_dir``
argument (``--data-dir``), the ``DCL_DATA_DIR`` environment variable, or the user cache
(``$XDG_CACHE_HOME/dcl/data``, default ``~/.cache/dcl/data``). A dataset may also name
system folders where a distribution package installs it (Debian's dataset-fashion-mnist:
``/usr/share/datasets/fashion-mnist``).

Each :class:`DatasetSpec` carries the paper's normalisation and train augmentation
(REFERENCE.md "Data") and a ``read(folder) -> (train, test)`` function. Splits hold
``images`` (uint8, N x C x H x W) and ``labels`` (int64, N).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..errors import DCLError
from ..registry import Registry
from .idx import find_idx, read_idx


@dataclass
class Split:
    """One split: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: Tensor) -> "Split":
        return Split(self.images[index], self.labels[index])


@dataclass
class Dataset:
    spec: "DatasetSpec"
    train: Split
    test: Split
    folder: Path | None = None
    val: Split | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    in_shape: tuple[int, int, int]          # (C, H, W)
    num_classes: int
    mean: tuple[float, ...]                 # per channel, on [0, 1] pixels
    std: tuple[float, ...]
    crop_padding: int = 0                   # random crop to H x W after zero padding (0 = none)
    flip: bool = False                      # random horizontal flip
    read: Callable[[Path], tuple[Split, Split]] | None = None
    description: str = ""
    system_dirs: tuple[str, ...] = ()       # other places a distribution may have installed it
    folder_name: str | None = None          # folder under DATA_DIR (default: name)
    how_to_get: str = ""
    alt_folders: tuple[str, ...] = ()       # other folders under DATA_DIR tried after `folder`

    @property
    def folder(self) -> str:
        return self.folder_name or self.name

    @classmethod
    def for_inputs(cls, in_shape, num_classes: int, name: str = "custom") -> "DatasetSpec":
        """The facts of inputs known only by their shape ``(C, H, W)`` and class count: taken as
        they are (mean 0, std 1 per channel, i.e. pixels on [0, 1] that nothing normalised)."""
        c = int(tuple(in_shape)[0])
        return cls(name=name, in_shape=tuple(int(v) for v in in_shape), num_classes=int(num_classes),
                   mean=(0.0,) * c, std=(1.0,) * c, description="inputs as given")


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.register(spec.name, spec, description=spec.description)
    return spec


def default_data_dir() -> Path:
    """The user cache folder for datasets."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dcl" / "data"


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$DCL_DATA_DIR``, else :func:`default_data_dir`."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("DCL_DATA_DIR")
    return Path(env).expanduser() if env else default_data_dir()


def candidate_dirs(spec: DatasetSpec, data_dir=None) -> list[Path]:
    root = data_root(data_dir)
    return ([root / spec.folder] + [root / f for f in spec.alt_folders]
            + [Path(d) for d in spec.system_dirs])


def to_split(images: np.ndarray, labels: np.ndarray, spec: DatasetSpec, source: str,
             label_source: str | None = None) -> Split:
    """Validate and wrap numpy arrays: images (N, C, H, W) or (N, H, W) uint8, labels (N,).

    ``source`` names the images' file, ``label_source`` the labels' (default: the same file);
    each error blames the file it is about. A split without images is an error.
    """
    label_source = label_source or source
    if images.ndim == 3:
        images = images[:, None]
    if images.dtype != np.uint8:
        raise DCLError(f"{source}: images must be uint8, got {images.dtype}")
    if images.ndim != 4 or tuple(images.shape[1:]) != spec.in_shape:
        raise DCLError(f"{source}: images have shape {tuple(images.shape)}, expected (N, {', '.join(map(str, spec.in_shape))})")
    if images.shape[0] == 0:
        raise DCLError(f"{source} holds no images (N = 0); a {spec.name} split needs at least one")
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if labels.shape[0] != images.shape[0]:
        where = source if label_source == source else f"{label_source} and {source}"
        raise DCLError(f"{where}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.min() < 0 or labels.max() >= spec.num_classes:
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise DCLError(f"{label_source}: labels must lie in [0, {spec.num_classes}), found {bad}")
    return Split(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


def find_dataset_folder(name: str, data_dir=None) -> Path | None:
    """The first candidate folder of ``name`` that holds its files, or None."""
    spec = DATASETS.get(name)
    for folder in candidate_dirs(spec, data_dir):
        if folder.is_dir() and _looks_present(spec, folder):
            return folder
    return None


def _looks_present(spec: DatasetSpec, folder: Path) -> bool:
    """True if ``folder`` holds anything but unfinished downloads (``*.part``) and hidden
    temporary folders (``.name``); the reader then says precisely what is missing."""
    try:
        return any(not (p.name.endswith(".part") or p.name.startswith(".")) for p in folder.iterdir())
    except OSError:
        return False


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, val_split: int = 0,
                 seed: int = 0) -> Dataset:
    """Load dataset ``name`` (see ``dcl list``) with ``.train`` and ``.test`` splits.

    ``val_split=N`` moves N training samples (a seeded random choice) into ``.val``.
    Missing data raises DCLError saying where it looked and how to get it.
    """
    spec = DATASETS.get(name)
    folder = find_dataset_folder(name, data_dir)
    if folder is None:
        looked = ", ".join(str(p) for p in candidate_dirs(spec, data_dir))
        how = spec.how_to_get or f"run `dcl data fetch {name}`"
        raise DCLError(f"no {name} data found (looked in: {looked}); {how}, or point --data-dir / DCL_DATA_DIR at a folder holding {spec.folder}/")
    train, test = spec.read(folder)
    ds = Dataset(spec, train, test, folder)
    if val_split:
        if val_split >= len(train):
            raise DCLError(f"val_split={val_split} must be smaller than the training set ({len(train)} samples)")
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(train), generator=g)
        ds.val = train.subset(perm[:val_split].sort().values)
        ds.train = train.subset(perm[val_split:].sort().values)
    return ds


# --------------------------------------------------------------------------------------
# MNIST-style IDX datasets
# --------------------------------------------------------------------------------------
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


#: the most samples an IDX split of these datasets holds (MNIST-style training sets: 60,000)
IDX_MAX_SAMPLES = 60_000


def read_idx_dataset(spec: DatasetSpec, folder: Path) -> tuple[Split, Split]:
    splits = []
    for split, (img_stem, lbl_stem) in IDX_FILES.items():
        img, lbl = find_idx(folder, img_stem), find_idx(folder, lbl_stem)
        if img is None or lbl is None:
            missing = img_stem if img is None else lbl_stem
            raise DCLError(f"{spec.name}: missing {split} split file {folder / missing}[.gz]")
        images = read_idx(img, max_bytes=IDX_MAX_SAMPLES * int(np.prod(spec.in_shape)))
        labels = read_idx(lbl, max_bytes=IDX_MAX_SAMPLES)
        if images.ndim != 3:
            raise DCLError(f"{img}: expected idx3 images (N, H, W), got a {images.ndim}-D array")
        if labels.ndim != 1:
            raise DCLError(f"{lbl}: expected idx1 labels (N,), got a {labels.ndim}-D array")
        splits.append(to_split(images, labels, spec, str(img), str(lbl)))
    return splits[0], splits[1]


def _idx_spec(name, mean, std, flip, description, **kw) -> DatasetSpec:
    spec = DatasetSpec(name=name, in_shape=(1, 28, 28), num_classes=10, mean=(mean,), std=(std,), flip=flip,
                       description=description, **kw)
    object.__setattr__(spec, "read", lambda folder, s=spec: read_idx_dataset(s, folder))
    return register_dataset(spec)


_idx_spec("mnist", 0.5, 0.5, False, "MNIST digits, 28x28 grey, 60k/10k; no augmentation")
_idx_spec("fashion-mnist", 0.286, 0.353, True, "Fashion-MNIST, 28x28 grey, 60k/10k; horizontal flip",
          system_dirs=("/usr/share/datasets/fashion-mnist",),
          how_to_get="run `dcl data fetch fashion-mnist` or `apt-get install dataset-fashion-mnist`")
