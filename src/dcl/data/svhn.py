"""SVHN (Street View House Numbers, cropped digits) from the ``*_32x32.mat`` files.

Folder ``DATA_DIR/svhn/``: ``train_32x32.mat`` (73,257), ``extra_32x32.mat`` (531,131),
``test_32x32.mat`` (26,032). Each is MATLAB v5, read with ``scipy.io.loadmat`` (a data-only
format: nothing in it is executed): ``X`` uint8 (32, 32, 3, N), ``y`` (N, 1) with labels
1..10, where 10 stands for the digit 0 (mapped here to label 0).

Two datasets:

* ``svhn`` - the paper's setting (Nøkland & Eidnes 2019): train = train + extra (604,388);
* ``svhn-noextra`` - train = ``train_32x32.mat`` only (same folder, no extra file needed).

Normalisation and train augmentation (REFERENCE.md "Data"): random crop 32 with padding 4,
no flip (digits are not mirror-symmetric); mean (0.431, 0.430, 0.446), std (0.197, 0.198, 0.199).
Needs scipy (``pip install 'dcl-local[svhn]'``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DCLError
from .datasets import DatasetSpec, Split, register_dataset, to_split

SVHN_MEAN = (0.431, 0.430, 0.446)
SVHN_STD = (0.197, 0.198, 0.199)
SVHN_FILES = {"train": "train_32x32.mat", "extra": "extra_32x32.mat", "test": "test_32x32.mat"}
#: the format's fixed sizes: samples per file (checked from the headers before allocating)
SVHN_COUNTS = {"train_32x32.mat": 73_257, "extra_32x32.mat": 531_131, "test_32x32.mat": 26_032}


def _scipy_io():
    try:
        import scipy.io
    except ImportError:
        raise DCLError("reading SVHN needs scipy: pip install 'dcl-local[svhn]' (or pip install scipy)") from None
    return scipy.io


def _check_shapes(path: Path) -> int:
    """The number of samples in ``path``, from its variable headers (reads no image data)."""
    sio = _scipy_io()
    if not path.is_file():
        hint = " (or use the dataset svhn-noextra, which trains on train_32x32.mat alone)" \
            if path.name == SVHN_FILES["extra"] else ""
        raise DCLError(f"missing SVHN split file {path}{hint}")
    try:
        shapes = {name: shape for name, shape, _ in sio.whosmat(str(path))}
    except Exception as e:  # scipy raises ValueError / MatReadError / TypeError on non-MAT files
        raise DCLError(f"{path} is not a readable MATLAB v5 file ({type(e).__name__}: {e})") from None
    if "X" not in shapes or "y" not in shapes:
        raise DCLError(f"{path}: an SVHN file needs the variables X and y; found {', '.join(shapes) or 'none'} "
                       f"(truncated, or not an SVHN file?)")
    x, y = shapes["X"], shapes["y"]
    if len(x) != 4 or tuple(x[:3]) != (32, 32, 3):
        raise DCLError(f"{path}: X has shape {tuple(x)}, expected (32, 32, 3, N)")
    if int(np.prod(y)) != x[3]:
        raise DCLError(f"{path}: {x[3]} images but y has shape {tuple(y)}")
    most = SVHN_COUNTS.get(path.name, max(SVHN_COUNTS.values()))
    if x[3] > most:
        raise DCLError(f"{path}: its header declares {x[3]:,} images, more than the {most:,} of this SVHN file")
    return int(x[3])


def read_svhn_mat(path: Path, out: np.ndarray) -> np.ndarray:
    """Read ``path`` into ``out`` (uint8, (N, 3, 32, 32)); return its labels in 0..9 (int64)."""
    sio = _scipy_io()
    try:
        mat = sio.loadmat(str(path), variable_names=["X", "y"])
    except Exception as e:
        raise DCLError(f"{path} is truncated or not a valid MATLAB v5 file ({type(e).__name__}: {e})") from None
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.dtype != np.uint8 or x.shape != (32, 32, 3, out.shape[0]):
        raise DCLError(f"{path}: X must be uint8 of shape (32, 32, 3, {out.shape[0]}), found {x.dtype} {x.shape}")
    if y.dtype.kind not in "iuf" or y.size and (y.min() < 1 or y.max() > 10 or not np.all(y == np.round(y))):
        lo, hi = (y.min(), y.max()) if y.size and y.dtype.kind in "iuf" else ("?", "?")
        raise DCLError(f"{path}: SVHN labels must be integers 1..10 (10 = digit 0), found [{lo}, {hi}]")
    np.copyto(out, x.transpose(3, 2, 0, 1))  # (H, W, C, N) -> (N, C, H, W)
    labels = y.astype(np.int64)
    labels[labels == 10] = 0
    return labels


def read_svhn_splits(spec: DatasetSpec, folder: Path, parts: tuple[str, ...]) -> Split:
    """Concatenate the given files (e.g. train + extra) into one split, without a second copy."""
    paths = [folder / SVHN_FILES[p] for p in parts]
    counts = [_check_shapes(p) for p in paths]
    images = np.empty((sum(counts), *spec.in_shape), dtype=np.uint8)
    labels, start = [], 0
    for path, n in zip(paths, counts):
        labels.append(read_svhn_mat(path, images[start:start + n]))
        start += n
    source = str(paths[0]) if len(paths) == 1 else " + ".join(str(p) for p in paths)
    return to_split(images, np.concatenate(labels), spec, source)


def _register(name: str, train_parts: tuple[str, ...], description: str) -> DatasetSpec:
    spec = DatasetSpec(name=name, in_shape=(3, 32, 32), num_classes=10, mean=SVHN_MEAN, std=SVHN_STD,
                       crop_padding=4, flip=False, description=description, folder_name="svhn")
    object.__setattr__(spec, "read", lambda folder, s=spec: (read_svhn_splits(s, folder, train_parts),
                                                             read_svhn_splits(s, folder, ("test",))))
    return register_dataset(spec)


_register("svhn", ("train", "extra"), "SVHN digits, 32x32 RGB, train+extra 604k / test 26k; random crop (pad 4)")
_register("svhn-noextra", ("train",), "SVHN without the extra set: 73k / 26k; random crop (pad 4)")
