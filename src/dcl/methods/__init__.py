"""Training methods: how each block gets its learning signal. Found automatically: a new
method is one new file here that calls ``METHODS.register``."""
import importlib
import pkgutil

from .base import METHODS, Method
from .local import LocalMethod
from ..plugins import load_entry_points

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m not in ("base", "local"):
        importlib.import_module(f"{__name__}.{_m}")


load_entry_points()  # installed packages' methods (entry-point group "dcl.methods")


def build_method(net, cfg, device="cpu", data=None) -> Method:
    """The method ``cfg.method`` for ``net`` (already on ``device``), trained on the data that
    ``data`` (a :class:`~dcl.data.DatasetSpec`) describes; None: the network's input shape and
    classes, inputs taken as they are (:meth:`Method.__init__`)."""
    return METHODS.get(cfg.method)(net, cfg, device, data=data)


__all__ = ["METHODS", "Method", "LocalMethod", "build_method"]
