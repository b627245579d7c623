"""Reader for the IDX format of MNIST-style datasets (gzipped or not).

Header (big-endian): two zero bytes, a type code (0x08 = uint8), the number of dimensions,
then one uint32 per dimension. Images are ``idx3`` (N, H, W); labels are ``idx1`` (N,).

The header is read first and the data size it declares is computed exactly (no 64-bit
overflow) and checked against ``max_bytes`` before the body is read, so a crafted header or a
gzip bomb cannot make the reader allocate more than that; the body must then have exactly
the declared size.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DCLError

#: the largest IDX body read by default (MNIST's training images are 47 MB)
MAX_BYTES = 1 << 30


def read_idx(path: str | Path, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a uint8 array; a bad, truncated or oversized
    file raises DCLError naming it."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DCLError(f"{path} is not an IDX file (bad magic number)")
            if head[2] != 0x08:
                raise DCLError(f"{path}: IDX type code 0x{head[2]:02x} is not supported (only uint8, 0x08)")
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if ndim < 1 or len(raw_dims) < 4 * ndim:
                raise DCLError(f"{path} is truncated (incomplete IDX header)")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            need = math.prod(dims)  # exact: Python ints do not overflow
            if need > max_bytes:
                raise DCLError(f"{path}: the IDX header declares shape {dims} ({need:,} bytes), more than the "
                               f"{max_bytes:,} bytes this dataset's files can hold (corrupt or not this dataset)")
            body = f.read(need + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DCLError(f"cannot read {path}: it is corrupt or truncated ({type(e).__name__}: {e})") from None
    if len(body) != need:
        raise DCLError(f"{path} is truncated or corrupt: header says {need} bytes of data for shape {dims}, "
                       f"found {'more' if len(body) > need else len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims).copy()


def find_idx(folder: Path, stem: str) -> Path | None:
    """``stem`` (e.g. ``train-images-idx3-ubyte``) in ``folder``, gzipped or not."""
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None
