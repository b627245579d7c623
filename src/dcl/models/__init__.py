"""Networks as blocks + head. Every module in this package registers its builders in ARCHS.

A new architecture is one new file here that calls ``ARCHS.register``; it is found
automatically (modules are imported in name order).
"""
import importlib
import pkgutil

from ..data.datasets import DatasetSpec
from .base import ARCHS, BlockSpec, LocalNet, count_params

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m != "base":
        importlib.import_module(f"{__name__}.{_m}")

from .split import make_local  # noqa: E402  (any nn.Module made local)


def build_model(cfg, spec: DatasetSpec) -> LocalNet:
    """Build the network ``cfg.arch`` for the data ``spec`` describes: inputs ``spec.in_shape``
    (C, H, W), ``spec.num_classes`` classes, ``spec.mean`` / ``spec.std`` (what the loader
    normalised with). ``DatasetSpec.for_inputs(in_shape, num_classes)`` for a shape alone."""
    return ARCHS.get(cfg.arch)(cfg, spec)


__all__ = ["ARCHS", "BlockSpec", "LocalNet", "build_model", "count_params", "make_local"]
