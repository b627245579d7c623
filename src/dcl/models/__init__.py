"""Networks as blocks + head. Every module in this package registers its builders in ARCHS.

A new architecture is one new file here that calls ``ARCHS.register``; it is found
automatically (modules are imported in name order).
"""
import importlib
import pkgutil

from .base import ARCHS, BlockSpec, LocalNet, count_params

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m != "base":
        importlib.import_module(f"{__name__}.{_m}")

from .split import make_local  # noqa: E402  (any nn.Module made local)


def build_model(cfg, in_shape, num_classes) -> LocalNet:
    """Build the network ``cfg.arch`` for inputs ``in_shape`` (C, H, W) and ``num_classes``."""
    return ARCHS.get(cfg.arch)(cfg, tuple(in_shape), int(num_classes))


__all__ = ["ARCHS", "BlockSpec", "LocalNet", "build_model", "count_params", "make_local"]
