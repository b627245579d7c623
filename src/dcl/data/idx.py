"""Reader for the IDX format of MNIST-style datasets (gzipped or not).

Header (big-endian): two zero bytes, a type code (0x08 = uint8), the number of dimensions,
then one uint32 per dimension. Images are ``idx3`` (N, H, W); labels are ``idx1`` (N,).
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ..errors import DCLError


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a uint8 array; a bad or truncated file raises DCLError."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DCLError(f"cannot read {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DCLError(f"{path} is not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise DCLError(f"{path}: IDX type code 0x{raw[2]:02x} is not supported (only uint8, 0x08)")
    ndim = raw[3]
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise DCLError(f"{path} is truncated (incomplete IDX header)")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    need = int(np.prod(dims))
    body = raw[4 + 4 * ndim:]
    if len(body) != need:
        raise DCLError(f"{path} is truncated or corrupt: header says {need} bytes of data for shape {dims}, found {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims).copy()


def find_idx(folder: Path, stem: str) -> Path | None:
    """``stem`` (e.g. ``train-images-idx3-ubyte``) in ``folder``, gzipped or not."""
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None
