"""Datasets as uint8 tensors, their registry, and a batch loader with batched augmentation.

Every module in this package that registers datasets is imported here, so a new dataset is
one new file calling :func:`register_dataset`.
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

__all__ = [
    "DATASETS", "Dataset", "DatasetSpec", "Split", "BatchLoader", "Normalize", "data_root",
    "default_data_dir", "find_dataset_folder", "load_dataset", "random_crop", "random_flip",
    "register_dataset",
]
