"""Reading the CIFAR python batches (pickles) without letting them run code.

A pickle names the callables it needs by ``module.name`` and the unpickler calls them, so an
ordinary ``pickle.load`` of a crafted file can run anything (``os.system``...). The CIFAR
batches were written by Python 2 cPickle with numpy 1.x and need exactly three names:
``numpy.core.multiarray._reconstruct`` (``numpy._core.multiarray`` in numpy 2),
``numpy.ndarray`` and ``numpy.dtype``; everything else in them (dicts, lists, ints, byte
strings) uses plain pickle opcodes. :class:`RestrictedUnpickler` admits those names and
nothing else; any other reference makes :func:`load_pickle` raise DCLError naming the file,
before the callable is ever looked up, let alone called.

Size: ``_reconstruct(ndarray, shape, dtype)`` allocates its array from the shape and dtype it
is given, so a pickle of 79 bytes can ask for gigabytes of zeros. :func:`load_pickle` takes a
``max_array_bytes`` bound and checks every array's size before it is made (and the file's
size before it is read).
"""
from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DCLError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

#: (module, name) -> object: the only globals a CIFAR batch may reference
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle references a global outside :data:`ALLOWED_GLOBALS`."""


class OversizedArray(pickle.UnpicklingError):
    """The pickle asks for an array larger than the bound."""


def _bounded_reconstruct(max_bytes: int | None):
    """numpy's ``_reconstruct``, refusing arrays of more than ``max_bytes`` before allocating."""
    def reconstruct(subtype, shape, dtype):
        if subtype is not np.ndarray:
            raise RefusedGlobal(f"array subclass {subtype!r}")
        try:
            dims = tuple(int(d) for d in shape) if isinstance(shape, tuple) else (int(shape),)
            nbytes = math.prod(dims) * np.dtype(dtype).itemsize
        except (TypeError, ValueError) as e:
            raise pickle.UnpicklingError(f"bad array header ({e})") from None
        if any(d < 0 for d in dims) or (max_bytes is not None and nbytes > max_bytes):
            raise OversizedArray(f"an array of shape {dims} and dtype {np.dtype(dtype)} ({nbytes:,} bytes)")
        return _reconstruct(subtype, shape, dtype)
    return reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` admits only :data:`ALLOWED_GLOBALS`; arrays are
    bounded by ``max_array_bytes``."""

    def __init__(self, file, *, max_array_bytes: int | None = None, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.max_array_bytes = max_array_bytes

    def find_class(self, module: str, name: str) -> Any:
        try:
            obj = ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None
        return _bounded_reconstruct(self.max_array_bytes) if obj is _reconstruct else obj

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedGlobal(f"persistent id {pid!r}")


def load_pickle(path: str | os.PathLike, max_array_bytes: int | None = None) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` and ``encoding="bytes"``.

    Python 2 ``str`` objects (CIFAR's dict keys, file names) come back as ``bytes``.
    A reference to any other callable, a truncated or a non-pickle file raises DCLError; so
    does (with ``max_array_bytes``) a file larger than twice that plus 16 MiB, or an array
    larger than that, before either is read or allocated.
    """
    path = Path(path)
    if max_array_bytes is not None:
        try:
            size = path.stat().st_size
        except OSError as e:
            raise DCLError(f"cannot read {path}: {e.strerror or e}") from None
        if size > 2 * max_array_bytes + (16 << 20):
            raise DCLError(f"{path} is {size:,} bytes, far more than a file of this format holds "
                           f"(its image array is at most {max_array_bytes:,} bytes); not a genuine batch file")
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, encoding="bytes", max_array_bytes=max_array_bytes).load()
    except RefusedGlobal as e:
        raise DCLError(f"{path}: refusing to unpickle {e}: a CIFAR batch may only hold numpy arrays, "
                       f"lists, numbers and strings (is the file genuine?)") from None
    except OversizedArray as e:
        raise DCLError(f"{path}: refusing {e}: more than the {max_array_bytes:,} bytes a batch of this format "
                       f"holds (not a genuine batch file)") from None
    except MemoryError:
        raise DCLError(f"{path}: out of memory while unpickling it (not a genuine batch file?)") from None
    except OSError as e:
        raise DCLError(f"cannot read {path}: {e}") from None
    except EOFError:
        raise DCLError(f"{path} is truncated (the pickle ends early)") from None
    except Exception as e:  # any other failure of a crafted or damaged file is a bad file
        raise DCLError(f"{path} is not a valid CIFAR python batch (bad or truncated pickle: "
                       f"{type(e).__name__}: {e})") from None
