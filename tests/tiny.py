"""Tiny configs and data specs the tests share.

    from tiny import MNIST, spec_of, tiny_config
    cfg = tiny_config("ff", arch="conv", batch_size=16)   # the paper's recipe, a small network
    cfg = tiny_config("pff", arch="pff", preset=False)     # TrainConfig's defaults, no recipe
    net = build_model(cfg, MNIST)                          # or spec_of((3, 16, 16), 10)
"""
from __future__ import annotations

from dcl import TrainConfig, resolve_config
from dcl.data import DATASETS, DatasetSpec

MNIST = DATASETS.get("mnist")

#: the network fields of each architecture at a size that trains in milliseconds
TINY_NETS: dict[str, dict] = {
    "fc": dict(width=32, segments=4),
    "conv": dict(channels=(4, 8)),
    "cafo": dict(channels=(2, 4, 8)),
    "pff": dict(width=20, pff_group=10),
}


def tiny_config(method: str = "dcl", arch: str = "fc", data: str = "mnist", *, preset: bool = True,
                **overrides) -> TrainConfig:
    """One epoch of ``method`` on a tiny ``arch`` (:data:`TINY_NETS`; ``overrides`` win, and an
    override of None drops the field: ``epochs=None`` keeps the recipe's epochs).

    ``preset=True``: the paper's recipe for (method, arch, data) below the overrides
    (:func:`dcl.resolve_config`); False: :class:`TrainConfig`'s defaults below them.
    """
    fields = dict(method=method, epochs=1, **TINY_NETS.get(arch, {}))
    fields.update(overrides)
    fields = {k: v for k, v in fields.items() if v is not None}
    if preset:
        return resolve_config(arch=arch, data=data, **fields)
    return TrainConfig(arch=arch, data=data, **fields)


def tiny_set_options(arch: str = "fc") -> list[str]:
    """The tiny network of ``arch`` as ``dcl train`` options: ``["--set", "width=32", ...]``."""
    out = []
    for k, v in TINY_NETS.get(arch, {}).items():
        out += ["--set", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"]
    return out


def spec_of(in_shape, num_classes: int) -> DatasetSpec:
    """The facts of inputs of shape ``in_shape`` (C, H, W) with ``num_classes`` classes, taken
    as they are (mean 0, std 1)."""
    return DatasetSpec.for_inputs(in_shape, num_classes)
