"""What data is where: per dataset its folder, sample counts and the checksum status of its
files (``dcl data info``), and per-channel pixel statistics (how normalisation constants are
computed).
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..errors import DCLError
from .datasets import DATASETS, find_dataset_folder, load_dataset
from .download import CHECKSUMS, DOWNLOADS, KnownFile, md5_file

OK, OK_CONTENT, MISMATCH = "ok", "ok (content)", "MISMATCH"


@dataclass
class FileCheck:
    path: Path
    status: str            # ok | ok (content) | MISMATCH
    expected: str          # the MD5 it was compared with
    got: str


@dataclass
class DatasetInfo:
    name: str
    folder: Path | None                       # None: missing
    n_train: int | None = None
    n_test: int | None = None
    files: list[FileCheck] = field(default_factory=list)
    error: str | None = None                  # the DCLError loading it raised

    @property
    def checksum_summary(self) -> str:
        if not self.files:
            return "-"
        bad = [f.path.name for f in self.files if f.status == MISMATCH]
        if bad:
            return f"{MISMATCH}: {', '.join(bad)}"
        content = any(f.status == OK_CONTENT for f in self.files)
        return f"{len(self.files)} ok" + (" (content)" if content else "")


def check_file(folder: Path, f: KnownFile) -> FileCheck | None:
    """Compare one known file in ``folder`` with the table; None if it is not there.

    A gzipped IDX file whose bytes differ is accepted when its decompressed content has the
    known content MD5 (``ok (content)``); so is an already decompressed copy.
    """
    path = folder / f.path
    if path.is_file():
        got = md5_file(path)
        if got == f.md5:
            return FileCheck(path, OK, f.md5, got)
        if f.content_md5:
            try:
                got_content = md5_file(path, gunzip=True)
            except (OSError, EOFError, zlib.error):
                got_content = "unreadable"
            return FileCheck(path, OK_CONTENT if got_content == f.content_md5 else MISMATCH, f.content_md5, got_content)
        return FileCheck(path, MISMATCH, f.md5, got)
    if f.path.endswith(".gz") and f.content_md5 and (folder / f.path[:-3]).is_file():
        raw = folder / f.path[:-3]
        got = md5_file(raw)
        return FileCheck(raw, OK if got == f.content_md5 else MISMATCH, f.content_md5, got)
    return None


def verify_folder(name: str, folder: Path) -> list[FileCheck]:
    """Checksum status of every known file of dataset ``name`` present in ``folder``."""
    key = DOWNLOADS[name][0] if name in DOWNLOADS else name
    return [c for f in CHECKSUMS.get(key, ()) if (c := check_file(folder, f)) is not None]


def dataset_info(name: str, data_dir: str | os.PathLike | None = None, *, verify: bool = True,
                 count: bool = True) -> DatasetInfo:
    """Where dataset ``name`` is, its train/test sizes (it is loaded: archives get unpacked)
    and the checksums of its files. A dataset whose files are broken gets ``error`` set."""
    DATASETS.get(name)
    folder = find_dataset_folder(name, data_dir)
    info = DatasetInfo(name, folder)
    if folder is None:
        return info
    if count:
        try:
            ds = load_dataset(name, data_dir)
            info.n_train, info.n_test = len(ds.train), len(ds.test)
        except DCLError as e:
            info.error = str(e)
    if verify:
        info.files = verify_folder(name, folder)
    return info


def pixel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 ``images (N, C, H, W)`` on [0, 1] pixels,
    computed exactly from a 256-bin histogram per channel. E.g. MNIST's training set gives
    (0.1307,), (0.3081,)."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise DCLError(f"pixel_stats needs uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / n
        means.append(float(mean))
        stds.append(float(var.sqrt()))
    return tuple(means), tuple(stds)
