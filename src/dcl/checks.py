"""Checks of values a user hands to the Python API, each a one-line :class:`DCLError`.

Public functions call these once, at their boundary (never inside a hot loop): a value of
the wrong type or out of range is named with what is valid, e.g.
``num_classes must be an integer, got '10' (str)``. Integers are never silently truncated
(``1.7`` is not 1) and booleans are not numbers here.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from .errors import DCLError


def describe_value(value: Any) -> str:
    """``'abc' (str)``: the value and its type, short enough for a one-line message."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def is_integer(value: Any) -> bool:
    """An int-like value (int, numpy integer), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and not _is_numpy_bool(value)


def is_real(value: Any) -> bool:
    """A real number (int, float, numpy scalar), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not _is_numpy_bool(value)


def _is_numpy_bool(value: Any) -> bool:
    return type(value).__name__ == "bool_" and type(value).__module__ == "numpy"


def as_int(value: Any, what: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]``; anything else (``'10'``, ``1.7``, ``True``) raises."""
    if not is_integer(value):
        raise DCLError(f"{what} must be an integer, got {describe_value(value)}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise DCLError(f"{what} must be an integer in [{'-inf' if lo is None else lo}, "
                       f"{'inf' if hi is None else hi}], got {value}")
    return value


def as_real(value: Any, what: str, *, positive: bool = False) -> float:
    """``value`` as a finite float (``> 0`` if ``positive``); ``'1'``, nan, inf raise."""
    if not is_real(value):
        raise DCLError(f"{what} must be a number, got {describe_value(value)}")
    value = float(value)
    if not math.isfinite(value) or (positive and not value > 0):
        raise DCLError(f"{what} must be a finite number{' > 0' if positive else ''}, got {value}")
    return value


def check_tensor(x: Any, what: str) -> None:
    """``x`` must be a torch.Tensor (numpy arrays and lists are named, with the fix)."""
    import torch

    if not isinstance(x, torch.Tensor):
        hint = " (convert it with torch.as_tensor)" if type(x).__module__ == "numpy" or isinstance(x, (list, tuple)) \
            else ""
        kind = type(x).__name__ if type(x).__module__ == "builtins" else f"{type(x).__module__}.{type(x).__name__}"
        raise DCLError(f"{what} must be a torch.Tensor, got {kind}{hint}")


def check_labels(labels: Any, batch: int, num_classes: int, what: str = "labels") -> None:
    """``labels`` must be an integer tensor ``(batch,)`` with values in ``[0, num_classes)``.

    One reduction (``aminmax``) and one host read: cheap, but a synchronisation on a GPU, so
    callers do it once per public call, not per block.
    """
    import torch

    check_tensor(labels, what)
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise DCLError(f"{what} must have shape ({batch},) (one class index per sample), got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise DCLError(f"{what} must be integer class indices, got dtype {labels.dtype}")
    if labels.numel():
        lo, hi = (int(v) for v in torch.aminmax(labels))
        if lo < 0 or hi >= num_classes:
            raise DCLError(f"{what} must lie in [0, {num_classes}) ({num_classes} classes), "
                           f"found {lo if lo < 0 else hi}")
