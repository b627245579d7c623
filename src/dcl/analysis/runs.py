"""What every analysis reads from a trained run: test images, block features, the label
dictionary as each block sees it.

A run is a folder written by ``dcl train --out`` (or its ``checkpoint.pt``); it is loaded with
:func:`dcl.load` (``dcl.load(RUN, data_dir=...)`` or ``dataset=...``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Normalize
from ..data.classnames import class_names
from ..errors import DCLError
from ..losses.dictionary import pool_dictionary


def run_class_names(run) -> tuple[str, ...]:
    """The run's class names in label order (indices as strings where the dataset has none)."""
    return class_names(run.cfg.data, run.net.num_classes)


def has_dictionary(run) -> bool:
    """Was ``run`` trained with a label dictionary (the DCL family)?"""
    return bool(getattr(run.method, "layerwise", False)) and hasattr(run.method, "dictionary_of")


def require_dictionary(run, what: str) -> None:
    """Raise a DCLError unless ``run`` has a label dictionary."""
    if not has_dictionary(run):
        raise DCLError(f"{what} needs a model trained with a label dictionary (dcl, dcl-s, dcl-o, dcl-ld); "
                       f"this one was trained with {run.cfg.method!r}")


def split_of(run, split: str):
    data = getattr(run.dataset, split, None)
    if data is None:
        raise DCLError(f"the run's dataset has no {split!r} split; valid: train, test" +
                       (", val" if run.dataset.val is not None else ""))
    return data


def images(run, indices: Sequence[int], split: str = "test") -> tuple[Tensor, Tensor, Tensor]:
    """``(x, raw, y)`` for samples ``indices`` of ``split``: the normalised network input
    ``x (B, C, H, W)`` on the run's device, the uint8 images ``raw (B, C, H, W)`` and labels ``y (B,)``."""
    data = split_of(run, split)
    n = len(data)
    bad = [i for i in indices if not 0 <= int(i) < n]
    if bad:
        raise DCLError(f"image index {bad[0]} out of range; the {split} split has {n} images (0..{n - 1})")
    idx = torch.as_tensor([int(i) for i in indices], dtype=torch.long)
    raw, y = data.images[idx], data.labels[idx]
    x = Normalize(run.dataset.spec, run.device)(raw.to(run.device))
    return x, raw, y


def block_embeddings(run, i: int, width: int) -> Tensor:
    """Label embeddings ``(Z, width)`` as block ``i`` (0-based) compares them with its feature
    vectors (Eq. 2): the block's dictionary through ``pool_l`` (or its projection f_P^l),
    L2-normalised (before pooling) for a run trained with cosine similarity, exactly as the
    loss computes them, so the mean over k of <h^k, t_z> is the block's logit times tau."""
    require_dictionary(run, "label embeddings")
    method = run.method
    d = method.dictionary_of(i)
    weight = d.embeddings().detach()
    cosine = d.similarity == "cosine"
    proj = method.projection(i)
    if cosine:
        weight = F.normalize(weight, dim=1)
    if proj is None:
        return pool_dictionary(weight, width)  # as dict_logits: rows normalised before pooling
    t = proj(weight)
    return F.normalize(t, dim=1) if cosine else t  # as DictionaryContrastiveLoss.logits


@torch.inference_mode()
def block_outputs(run, x: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``[(output, feature)]`` of every block for input ``x``: ``feature`` is the tensor the
    method's local loss reads (its ``feature_tap``, else the output), in the layout of
    ``net.features`` (``(B, C, H, W)``, ``(B, C, P)`` or ``(B, F)``). Eval mode."""
    net, tap = run.net, getattr(run.method, "feature_tap", None)
    was = net.training
    net.eval()
    out, h = [], x
    try:
        for i in range(len(net.blocks)):
            h, feature = net.block_forward(i, h, tap)
            out.append((h, net.features(i, feature)))
    finally:
        net.train(was)
    return out


def spatial_grid(net, i: int, feature: Tensor) -> Tensor | None:
    """Block ``i``'s feature as a spatial map ``(B, C, h, w)``, or None when it has no spatial
    layout (flat FC segments). Conv maps as they are; tokens ``(B, C, P)`` when P (or P-1,
    dropping a class token) is a square number."""
    if feature.dim() == 4:
        return feature
    if feature.dim() == 3:
        b, c, p = feature.shape
        for drop in (0, 1):
            side = int(round((p - drop) ** 0.5))
            if side * side == p - drop and side > 1:
                return feature[:, :, drop:].reshape(b, c, side, side)
    return None
