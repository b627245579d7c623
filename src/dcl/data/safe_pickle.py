"""Reading the CIFAR python batches (pickles) without letting them run code.

A pickle names the callables it needs by ``module.name`` and the unpickler calls them, so an
ordinary ``pickle.load`` of a crafted file can run anything (``os.system``...). The CIFAR
batches were written by Python 2 cPickle with numpy 1.x and need exactly three names:
``numpy.core.multiarray._reconstruct`` (``numpy._core.multiarray`` in numpy 2),
``numpy.ndarray`` and ``numpy.dtype``; everything else in them (dicts, lists, ints, byte
strings) uses plain pickle opcodes. :class:`RestrictedUnpickler` admits those names and
nothing else; any other reference makes :func:`load_pickle` raise DCLError naming the file,
before the callable is ever looked up, let alone called.
"""
from __future__ import annotations

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


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` admits only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedGlobal(f"persistent id {pid!r}")


def load_pickle(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` and ``encoding="bytes"``.

    Python 2 ``str`` objects (CIFAR's dict keys, file names) come back as ``bytes``.
    A reference to any other callable, a truncated or a non-pickle file raises DCLError.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, encoding="bytes").load()
    except RefusedGlobal as e:
        raise DCLError(f"{path}: refusing to unpickle {e}: a CIFAR batch may only hold numpy arrays, "
                       f"lists, numbers and strings (is the file genuine?)") from None
    except OSError as e:
        raise DCLError(f"cannot read {path}: {e}") from None
    except EOFError:
        raise DCLError(f"{path} is truncated (the pickle ends early)") from None
    except Exception as e:  # any other failure of a crafted or damaged file is a bad file
        raise DCLError(f"{path} is not a valid CIFAR python batch (bad or truncated pickle: "
                       f"{type(e).__name__}: {e})") from None
