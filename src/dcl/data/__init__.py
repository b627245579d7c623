"""Datasets as uint8 tensors, their registry, and a batch loader with batched augmentation.

Every module in this package that registers datasets is imported here, so a new dataset is
one new file calling :func:`register_dataset`. Registered: MNIST, Fashion-MNIST
(``datasets``), CIFAR-10/100/20 (``cifar``), SVHN (``svhn``), STL-10 (``stl10``),
Kuzushiji-MNIST (``kmnist``). Downloads: :func:`fetch_dataset` (``download``); inventory:
:func:`dataset_info` (``info``).
"""
import importlib
import pkgutil

from .datasets import (
    DATASETS,
    Dataset,
    DatasetSpec,
    Split,
    data_root,
    default_data_dir,
    find_dataset_folder,
    load_dataset,
    register_dataset,
)
from .loader import BatchLoader, Normalize, random_crop, random_flip

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m not in ("datasets", "loader", "idx"):
        importlib.import_module(f"{__name__}.{_m}")

from .download import fetch_dataset  # noqa: E402
from .info import dataset_info, pixel_stats  # noqa: E402

__all__ = [
    "DATASETS", "Dataset", "DatasetSpec", "Split", "BatchLoader", "Normalize", "data_root",
    "dataset_info", "default_data_dir", "fetch_dataset", "find_dataset_folder", "load_dataset",
    "pixel_stats", "random_crop", "random_flip", "register_dataset",
]
