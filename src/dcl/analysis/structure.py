"""What a network is made of under a method: its local modules, their output shapes and K,
parameters, Δθ against BP and the dictionary (``dcl describe``).

    describe("vgg8b", "cifar10", "dcl")   # registry names; needs no data on disk
    describe(net, method="dcl-s")         # any LocalNet, e.g. from make_local()

Nothing is trained and no data is read: the network is built for the dataset's
``in_shape`` / ``num_classes`` from its registry entry, and one dummy batch is run through
it (eval mode, no gradients) to find the shapes. The global RNG state is left untouched.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..models.base import LocalNet, count_params
from ..models.layers import Tap
from ..models.split import trace_shapes


def describe(arch: str | LocalNet, data: str | None = None, method: str | None = None, *,
             preset: str | None = None, cfg=None, **overrides: Any) -> dict[str, Any]:
    """Describe ``arch`` (a registry name or a LocalNet) trained by ``method`` on ``data``.

    For a registry name the run config is ``resolve_config(arch, data, preset, method=...,
    **overrides)`` unless ``cfg`` is given. For a LocalNet, ``cfg`` (default: a TrainConfig
    with ``method`` and ``overrides``) only sets the method's options (e.g. ``dict_dim``).

    Returns a JSON-ready dict with keys ``arch, data, method, preset, in_shape, num_classes,
    params`` (network + the method's own trained parameters), ``params_network`` (= the BP
    count), ``delta_params`` (Δθ), ``params_trainable`` / ``params_frozen`` /
    ``params_feedback`` (:func:`parameter_kinds`), ``dictionaries`` (``[{name, shape,
    trainable}]``), ``dictionary`` (the shape of the first, or None), ``local`` and ``modules``:
    one entry per block, one for the head and one for each further part of the network (e.g.
    CaFo's side predictors, PFF's generative circuit) with ``index, name, layers, output_shape,
    layout, C, K, params, frozen``.
    """
    from ..config import TrainConfig, coerce_overrides, resolve_config
    from ..data import DATASETS
    from ..losses import DictionaryContrastiveLoss
    from ..methods import build_method
    from ..models import build_model

    with torch.random.fork_rng(devices=[]):
        if isinstance(arch, LocalNet):
            net = arch
            if cfg is None:
                cfg = coerce_overrides(TrainConfig(method=method or TrainConfig.method), overrides)
            torch.manual_seed(cfg.seed)
            name, spec = net.name or "custom", None
        else:
            if cfg is None:
                cfg = resolve_config(arch=arch, data=data, preset=preset, method=method, **overrides)
            spec = DATASETS.get(cfg.data)
            torch.manual_seed(cfg.seed)
            net = build_model(cfg, spec)
            data, name = cfg.data, cfg.arch
        m = build_method(net, cfg, data=spec)

    shapes, out_shape = trace_shapes(list(net.blocks), net.head, net.in_shape)
    modules = []
    for i, (block, shape, s) in enumerate(zip(net.blocks, shapes, net.specs)):
        modules.append({
            "index": i + 1, "name": f"block {i + 1}", "layers": layer_summary(block),
            "output_shape": list(shape), "layout": s.layout, "C": s.width, "K": feature_count(shape, s.layout, s.segments),
            "params": count_params(block), "frozen": count_frozen(block),
        })
    modules.append({
        "index": len(shapes) + 1, "name": "head", "layers": layer_summary(net.head), "output_shape": list(out_shape),
        "layout": None, "C": None, "K": None, "params": count_params(net.head), "frozen": count_frozen(net.head),
    })
    for part_name, part in net.named_children():  # further parts: CaFo's side predictors, PFF's generator
        if part_name not in ("blocks", "head") and any(True for _ in part.parameters()):
            modules.append({"index": None, "name": part_name, "layers": layer_summary(part), "output_shape": None,
                            "layout": None, "C": None, "K": None, "params": count_params(part),
                            "frozen": count_frozen(part)})
    dicts = [{"name": n or "dictionary", "shape": list(mod.weight.shape), "trainable": not mod.static}
             for n, mod in m.aux.named_modules() if isinstance(mod, DictionaryContrastiveLoss)]
    net_params, delta = count_params(net), count_params(m.aux)
    return {
        "arch": name,
        "data": data,
        "method": cfg.method,
        "preset": cfg.preset,
        "in_shape": list(net.in_shape),
        "num_classes": net.num_classes,
        "params": net_params + delta,
        "params_network": net_params,
        "delta_params": delta,
        **{f"params_{k}": v for k, v in parameter_kinds(net, m.aux).items()},
        "dictionary": dicts[0]["shape"] if dicts else None,
        "dictionaries": dicts,
        "local": bool(m.local),
        "modules": modules,
    }


def count_frozen(module: nn.Module) -> int:
    """Parameters that are never trained (``requires_grad=False``: e.g. CaFo's random convs)."""
    return sum(p.numel() for p in module.parameters() if not p.requires_grad)


def parameter_kinds(net: nn.Module, aux: nn.Module | None = None) -> dict[str, int]:
    """Parameter counts of a network and a method's own modules, by kind (REFERENCE-FL decision 2):

    * ``trainable``: parameters that learn (``requires_grad``; the headline count);
    * ``frozen``: random parameters that never change (``requires_grad=False``: CaFo's conv
      blocks and their BatchNorm affine, DRTP's conv layers with ``drtp_freeze_conv``);
    * ``feedback``: fixed random feedback matrices (buffers of
      :class:`~dcl.losses.FixedFeedback`: DRTP's B_k).

    Other buffers (BatchNorm statistics, a static label dictionary) are none of these.
    """
    from ..losses import FixedFeedback

    mods = [net] + ([aux] if aux is not None else [])
    params = {id(p): p for m in mods for p in m.parameters()}.values()
    feedback = {id(b): b for m in mods for f in m.modules() if isinstance(f, FixedFeedback) for b in f.buffers()}
    return {
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "frozen": sum(p.numel() for p in params if not p.requires_grad),
        "feedback": sum(b.numel() for b in feedback.values()),
    }


def feature_count(shape: tuple[int, ...], layout: str, segments: int | None) -> int:
    """K, the number of feature vectors the dictionary loss reads from an output of ``shape``."""
    if layout == "map":
        return int(shape[1] * shape[2])
    if layout == "tokens":
        return int(shape[0])
    if layout == "cls":
        return 1
    return int(segments or 1)


_ACT_NAMES = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "tanh": "Tanh"}


def layer_summary(module: nn.Module) -> str:
    """A one-line summary of a module, e.g. ``Conv3x3(3->128) -> BN -> ReLU -> Dropout(0.05)``."""
    if isinstance(module, nn.Sequential):
        return " -> ".join(layer_summary(m) for m in module if not isinstance(m, Tap))
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        stride = f", s{module.stride[0]}" if module.stride[0] != 1 else ""
        return f"Conv{kh}x{kw}({module.in_channels}->{module.out_channels}{stride})"
    if isinstance(module, nn.Linear):
        return f"Linear({module.in_features}->{module.out_features})"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        act = getattr(module, "activation", None)  # fused BN -> activation (models/bn_act.py)
        return "BN" if act is None else f"BN -> {_ACT_NAMES[act]}"
    if isinstance(module, nn.LayerNorm):
        return "LN"
    if isinstance(module, nn.Dropout2d):
        return f"Dropout2d({module.p:g})"
    if isinstance(module, nn.Dropout):  # also drop-in subclasses (models/layers.py)
        return f"Dropout({module.p:g})"
    if isinstance(module, nn.MaxPool2d):
        return f"MaxPool{module.kernel_size}"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return "GAP"
    if isinstance(module, (nn.ReLU, nn.GELU, nn.Flatten, nn.Identity, nn.Tanh, nn.Sigmoid, nn.LeakyReLU)):
        return type(module).__name__
    extra = module.extra_repr()
    return f"{type(module).__name__}({extra})" if extra and len(extra) <= 60 else type(module).__name__
