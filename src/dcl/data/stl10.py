"""STL-10 (labelled part) from the binary distribution.

Folder ``DATA_DIR/stl10/stl10_binary/``: ``train_X.bin``, ``train_y.bin`` (5,000),
``test_X.bin``, ``test_y.bin`` (8,000); or ``DATA_DIR/stl10/stl10_binary.tar.gz``, unpacked
safely on first use without the 2.7 GB ``unlabeled_X.bin`` (not used by the paper).

``*_X.bin`` is raw uint8, 3 x 96 x 96 per image, channel after channel, each channel stored
column-major (MATLAB order): read as (N, 3, 96, 96) it is (N, C, W, H), so each channel is
transposed. ``*_y.bin`` is one uint8 label per image, 1..10 (mapped to 0..9).

Normalisation and train augmentation (REFERENCE.md "Data"): random crop 96 with padding 4
+ horizontal flip; mean (0.447, 0.440, 0.407), std (0.260, 0.257, 0.271).
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import DCLError
from .archive import locate
from .datasets import DatasetSpec, Split, register_dataset, to_split

STL10_MEAN = (0.447, 0.440, 0.407)
STL10_STD = (0.260, 0.257, 0.271)
STL10_TOP, STL10_ARCHIVE = "stl10_binary", "stl10_binary.tar.gz"
IMAGE_BYTES = 3 * 96 * 96
#: the format's fixed sizes: images per split, and the most bytes unpacked from the archive
#: without unlabeled_X.bin (360 MB)
SPLIT_IMAGES = {"train": 5_000, "test": 8_000}
UNPACKED_MAX_BYTES = 400 << 20


def _skip_unlabeled(path: PurePosixPath) -> bool:
    return path.name != "unlabeled_X.bin"


def read_stl10_split(spec: DatasetSpec, folder: Path, split: str) -> Split:
    """``{split}_X.bin`` and ``{split}_y.bin`` -> Split (N, 3, 96, 96) uint8, labels 0..9."""
    xp, yp = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    for p in (xp, yp):
        if not p.is_file():
            raise DCLError(f"missing STL-10 {split} split file {p}")
    most = SPLIT_IMAGES.get(split, max(SPLIT_IMAGES.values()))
    for p, per_image in ((xp, IMAGE_BYTES), (yp, 1)):
        if p.stat().st_size > most * per_image:
            raise DCLError(f"{p} is {p.stat().st_size:,} bytes, more than the {most:,} images of the STL-10 "
                           f"{split} split take ({most * per_image:,} bytes); not an STL-10 file")
    raw = np.fromfile(xp, dtype=np.uint8)
    if raw.size == 0 or raw.size % IMAGE_BYTES:
        raise DCLError(f"{xp} is truncated or not an STL-10 image file: {raw.size} bytes is not a "
                       f"multiple of {IMAGE_BYTES} (3 x 96 x 96)")
    images = raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)  # column-major channels -> (H, W)
    labels = np.fromfile(yp, dtype=np.uint8)
    if labels.size != images.shape[0]:
        raise DCLError(f"{yp}: {labels.size} labels for {images.shape[0]} images in {xp.name} (truncated file?)")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DCLError(f"{yp}: STL-10 labels must lie in 1..10, found [{labels.min()}, {labels.max()}]")
    return to_split(np.ascontiguousarray(images), labels.astype(np.int64) - 1, spec, str(xp), str(yp))


def read_stl10(spec: DatasetSpec, folder: Path) -> tuple[Split, Split]:
    files = locate(folder, STL10_TOP, STL10_ARCHIVE, marker="test_X.bin", keep=_skip_unlabeled,
                   max_bytes=UNPACKED_MAX_BYTES)
    return read_stl10_split(spec, files, "train"), read_stl10_split(spec, files, "test")


_spec = DatasetSpec(name="stl10", in_shape=(3, 96, 96), num_classes=10, mean=STL10_MEAN, std=STL10_STD,
                    crop_padding=4, flip=True, description="STL-10 (labelled), 96x96 RGB, 5k/8k; random crop (pad 4) + flip")
object.__setattr__(_spec, "read", lambda folder, s=_spec: read_stl10(s, folder))
register_dataset(_spec)
