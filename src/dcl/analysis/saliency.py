"""Saliency maps of label embeddings (paper Fig. 5, VIII-X).

For a test image, block l and label z, the saliency at position k is the dot product between
the block's k-th feature vector and the label's embedding as that block sees it (Eq. 2 before
the mean over k):

    S_l[z, k] = <h_l^k, pool_l(t_z)>          (cosine runs: h^k and t_z L2-normalised first)

so the mean of S_l[z, :] over the K positions is block l's logit s_z (times tau). Labels are
ranked by the model's own prediction (the head by default: "the two labels with the highest
confidence as predicted by the final layer"). Maps are kept at the feature resolution and
upsampled bilinearly over the image for display, each normalised to [0, 1] as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DCLError
from ..evaluate import Scores, check_prediction, prediction_scores
from .plotting import pyplot, save_figure, write_csv
from .runs import block_embeddings, block_outputs, images, require_dictionary, run_class_names, spatial_grid


@dataclass
class Saliency:
    """Saliency of ``N`` images: ``raw (N, C, H, W)`` uint8 images, ``labels (N,)``,
    ``top_labels / top_probs (N, T)`` (labels ranked by ``rank_by``, softmax probabilities),
    ``blocks`` (1-based numbers) and ``maps``: one ``(N, T, h_l, w_l)`` tensor of dot products
    per block."""

    indices: list[int]
    raw: Tensor
    labels: Tensor
    top_labels: Tensor
    top_probs: Tensor
    blocks: list[int]
    maps: list[Tensor]
    class_names: tuple[str, ...]
    rank_by: str = "head"
    similarity: str = "dot"
    title: str = ""


def _ranking_scores(run, x: Tensor, rank_by: str) -> Tensor:
    method = run.method
    check_prediction(rank_by, method.num_layerwise, method.extra_predictions)
    with torch.inference_mode():
        was = run.net.training
        run.net.eval()
        try:
            out = method.predict_batch(x)
        finally:
            run.net.train(was)
    scores = Scores(labels=torch.zeros(x.shape[0], dtype=torch.long), head=out.head,
                    blocks=list(out.blocks), extra=dict(out.extra))
    return prediction_scores(scores, rank_by).float()


def saliency_maps(run, indices: Sequence[int], *, blocks: Sequence[int] | None = None, top: int = 2,
                  split: str = "test", rank_by: str = "head") -> Saliency:
    """Saliency maps of images ``indices`` of ``split`` for every block in ``blocks`` (1-based;
    default all) and the ``top`` labels ranked by the prediction mode ``rank_by``."""
    require_dictionary(run, "saliency")
    net = run.net
    n_blocks = len(net.blocks)
    blocks = list(range(1, n_blocks + 1)) if blocks is None else [int(b) for b in blocks]
    for b in blocks:
        if not 1 <= b <= n_blocks:
            raise DCLError(f"block {b} out of range; this model has blocks 1..{n_blocks}")
    if not 1 <= top <= net.num_classes:
        raise DCLError(f"top must be in 1..{net.num_classes}, got {top}")
    if not indices:
        raise DCLError("saliency needs at least one image index")
    x, raw, y = images(run, indices, split)
    probs = _ranking_scores(run, x, rank_by).softmax(dim=1).cpu()
    top_probs, top_labels = probs.topk(top, dim=1)
    outputs = block_outputs(run, x)
    maps = []
    for b in blocks:
        i = b - 1
        out, feature = outputs[i]
        tokens = out.transpose(1, 2) if net.specs[i].layout == "cls" else feature
        grid = spatial_grid(net, i, tokens)
        if grid is None:
            raise DCLError(f"saliency needs spatial features; block {b} of {run.cfg.arch!r} is flat "
                           f"(shape {tuple(feature.shape)}); use a convolutional or token network")
        grid = grid.float()
        if run.method.dictionary_of(i).similarity == "cosine":
            grid = F.normalize(grid, dim=1)
        with torch.inference_mode():
            t = block_embeddings(run, i, grid.shape[1]).float()            # (Z, C)
            s = torch.einsum("bchw,zc->bzhw", grid, t)                      # (N, Z, h, w)
        idx = top_labels.to(s.device).view(*top_labels.shape, 1, 1).expand(-1, -1, *s.shape[2:])
        maps.append(s.gather(1, idx).cpu())
    sim = run.method.dictionary_of(0).similarity
    return Saliency(list(map(int, indices)), raw.cpu(), y.cpu(), top_labels, top_probs, blocks, maps,
                    run_class_names(run), rank_by, sim,
                    title=f"{run.cfg.arch}, {run.cfg.data}, {run.cfg.method}")


def normalize_map(m: Tensor) -> Tensor:
    """Min-max normalise every map of ``m (..., h, w)`` to [0, 1] (a flat map gives zeros)."""
    flat = m.flatten(-2)
    lo, hi = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(m)


def upsample(m: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear upsampling of maps ``(..., h, w)`` to ``size`` (the image's H x W)."""
    lead = m.shape[:-2]
    out = F.interpolate(m.reshape(-1, 1, *m.shape[-2:]).float(), size=size, mode="bilinear", align_corners=False)
    return out.view(*lead, *size)


def saliency_csv(s: Saliency, path) -> Path:
    """One row per (image, block, rank, position): the raw dot product at feature resolution."""
    def rows():
        for bi, b in enumerate(s.blocks):
            m = s.maps[bi]
            for n, idx in enumerate(s.indices):
                for r in range(m.shape[1]):
                    z = int(s.top_labels[n, r])
                    for yy in range(m.shape[2]):
                        for xx in range(m.shape[3]):
                            yield (idx, s.class_names[int(s.labels[n])], b, r + 1, s.class_names[z],
                                   float(s.top_probs[n, r]), yy, xx, float(m[n, r, yy, xx]))
    return write_csv(path, ["image", "true_label", "block", "rank", "label", "probability", "row", "col",
                            "saliency"], rows())


def plot_saliency(s: Saliency, path, run_name: str = "") -> Path:
    """Fig. X layout: one row per block; per image, the input and one overlay per ranked label."""
    plt = pyplot()
    n_img, top = len(s.indices), s.top_labels.shape[1]
    cols, rows = n_img * (1 + top), len(s.blocks)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols + 1.2, 1.75 * rows + 1.1), squeeze=False,
                             layout="constrained")
    size = tuple(s.raw.shape[-2:])
    grey = s.raw.shape[1] == 1
    heat = None
    for r, b in enumerate(s.blocks):
        maps = normalize_map(upsample(s.maps[r], size))
        for n in range(n_img):
            img = s.raw[n].permute(1, 2, 0).numpy()
            img = img[..., 0] if grey else img
            c0 = n * (1 + top)
            ax = axes[r][c0]
            ax.imshow(img, cmap="gray" if grey else None)
            if r == 0:
                ax.set_title(f"#{s.indices[n]} true:\n{s.class_names[int(s.labels[n])]}", fontsize=10)
            for k in range(top):
                ax = axes[r][c0 + 1 + k]
                ax.imshow(img, cmap="gray" if grey else None)
                heat = ax.imshow(maps[n, k].numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
                if r == 0:
                    z = int(s.top_labels[n, k])
                    ax.set_title(f"top-{k + 1}: {s.class_names[z]}\n(p={float(s.top_probs[n, k]):.2f})", fontsize=10)
        h, w = s.maps[r].shape[-2:]
        axes[r][0].set_ylabel(f"block {b}\n({h}x{w} positions)", fontsize=10)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    cbar = fig.colorbar(heat, ax=axes, fraction=0.025, pad=0.01, aspect=30)
    cbar.set_label("saliency (0-1 per map)")
    measure = "cosine similarity" if s.similarity == "cosine" else "dot product"
    fig.suptitle(f"Saliency maps of the top-{top} labels (ranked by the {s.rank_by}): {measure} of each "
                 f"position's feature vector\nwith the label's embedding; {run_name} ({s.title})")
    return save_figure(fig, path)
