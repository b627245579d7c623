"""The label embeddings themselves (paper Fig. 6, VII, VI a): a t-SNE map of the dictionary's
rows and their cosine-similarity matrix.

    emb = label_embeddings(run)          # (Z, C_D): the dictionary D, one row t_z per class
    sim = cosine_similarity(emb)          # (Z, Z)
    xy = tsne_2d(emb)                     # (Z, 2), scikit-learn's TSNE on exactly those rows

Points are coloured by super-label where the dataset has them (CIFAR-100: its 20 super-labels,
as in Fig. 6), else one colour per class; every point carries its class name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from ..data.classnames import superlabel_groups
from ..errors import DCLError
from .plotting import COLORS, label_heatmap, pyplot, require, save_figure, write_csv
from .runs import require_dictionary, run_class_names


def label_embeddings(run, block: int | None = None) -> Tensor:
    """The run's label dictionary ``(Z, C_D)`` (a copy on the CPU). ``block`` (1-based) picks a
    block's own dictionary for ``dcl-ld``; by default the shared (last block's) dictionary."""
    require_dictionary(run, "label embeddings")
    method = run.method
    if block is None:
        d = method.dictionary
    else:
        n = len(run.net.blocks)
        if not 1 <= block <= n:
            raise DCLError(f"block {block} out of range; this model has blocks 1..{n}")
        d = method.dictionary_of(block - 1)
    return d.weight.detach().float().cpu().clone()


def cosine_similarity(embeddings: Tensor) -> Tensor:
    """``(Z, C) -> (Z, Z)``: cosine similarity of every pair of rows."""
    e = F.normalize(embeddings.float(), dim=1)
    return e @ e.t()


def default_perplexity(n: int) -> float:
    """t-SNE perplexity for ``n`` points: sklearn's 30 where n allows, else about n/3 (it
    must stay below n)."""
    return float(min(30.0, max(1.0, (n - 1) / 3.0)))


def tsne_2d(embeddings: Tensor, *, perplexity: float | None = None, seed: int = 0) -> np.ndarray:
    """scikit-learn t-SNE of the rows of ``embeddings (Z, C)`` -> ``(Z, 2)``."""
    manifold = require("sklearn.manifold", "the t-SNE of label embeddings")
    x = embeddings.detach().double().cpu().numpy()
    n = x.shape[0]
    if n < 3:
        raise DCLError(f"t-SNE needs at least 3 label embeddings, got {n}")
    p = default_perplexity(n) if perplexity is None else float(perplexity)
    if not 0 < p < n:
        raise DCLError(f"t-SNE perplexity must be in (0, {n}) for {n} embeddings, got {p}")
    tsne = manifold.TSNE(n_components=2, perplexity=p, init="pca", random_state=seed)
    return np.asarray(tsne.fit_transform(x))


@dataclass
class EmbeddingAnalysis:
    """``embeddings (Z, C_D)``, ``similarity (Z, Z)``, ``tsne (Z, 2)``, class names and, where the
    dataset has them, ``groups`` (super-label of every class) and ``group_names``."""

    embeddings: Tensor
    similarity: Tensor
    tsne: np.ndarray
    class_names: tuple[str, ...]
    groups: tuple[int, ...] | None = None
    group_names: tuple[str, ...] | None = None
    title: str = ""


def analyze_embeddings(run, *, block: int | None = None, perplexity: float | None = None,
                       seed: int = 0) -> EmbeddingAnalysis:
    """t-SNE and cosine similarity of ``run``'s label embeddings (see module doc)."""
    emb = label_embeddings(run, block)
    groups = superlabel_groups(run.cfg.data, emb.shape[0])
    return EmbeddingAnalysis(emb, cosine_similarity(emb), tsne_2d(emb, perplexity=perplexity, seed=seed),
                             run_class_names(run), groups[0] if groups else None, groups[1] if groups else None,
                             title=f"{run.cfg.arch}, {run.cfg.data}, {run.cfg.method}")


def embeddings_csv(a: EmbeddingAnalysis, path) -> Path:
    """One row per class: name, super-label, t-SNE coordinates, norm, and its similarity row."""
    names = a.class_names
    norms = a.embeddings.norm(dim=1)
    rows = []
    for z, name in enumerate(names):
        group = a.group_names[a.groups[z]] if a.groups is not None else ""
        rows.append([z, name, group, float(a.tsne[z, 0]), float(a.tsne[z, 1]), float(norms[z]),
                     *[float(v) for v in a.similarity[z]]])
    return write_csv(path, ["label", "name", "superlabel", "tsne_x", "tsne_y", "norm",
                            *[f"cos_{n}" for n in names]], rows)


def plot_tsne(a: EmbeddingAnalysis, path, run_name: str = "") -> Path:
    """t-SNE scatter of the label embeddings, every point named, coloured by super-label or class."""
    plt = pyplot()
    z = len(a.class_names)
    big = z > 20
    fig, ax = plt.subplots(figsize=(11 if big else 7.5, 9 if big else 6))
    cmap = plt.get_cmap("tab20")
    if a.groups is not None:
        for g, gname in enumerate(a.group_names):
            members = [i for i in range(z) if a.groups[i] == g]
            ax.scatter(a.tsne[members, 0], a.tsne[members, 1], s=40, color=cmap(g % 20), label=gname)
    else:
        for i in range(z):
            ax.scatter(a.tsne[i, 0], a.tsne[i, 1], s=70, color=COLORS[i % len(COLORS)] if z <= 10 else cmap(i % 20),
                       label=a.class_names[i])
    for i in range(z):
        ax.annotate(a.class_names[i], (a.tsne[i, 0], a.tsne[i, 1]), textcoords="offset points", xytext=(4, 4),
                    fontsize=7 if big else 10)
    ax.margins(0.12)  # room for the names of the outermost points
    ax.set_xlabel("t-SNE dimension 1 (arbitrary units)")
    ax.set_ylabel("t-SNE dimension 2 (arbitrary units)")
    what = "coloured by super-label" if a.groups is not None else "one colour per class"
    ax.set_title(f"t-SNE of the {z} label embeddings ({what})\n{run_name} ({a.title})")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8 if big else 10,
              title="super-label" if a.groups is not None else "class")
    return save_figure(fig, path)


def plot_similarity(a: EmbeddingAnalysis, path, run_name: str = "") -> Path:
    """Heat map of the embeddings' cosine similarity with class names (Fig. VI a)."""
    z = len(a.class_names)
    sim = a.similarity.numpy()
    fig, ax, im = label_heatmap(sim, a.class_names, "RdBu_r", -1, 1)
    if z <= 20:
        for i in range(z):
            for j in range(z):
                ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=8 if z <= 12 else 6,
                        color="white" if abs(sim[i, j]) > 0.6 else "black")
    ax.set_xlabel("label embedding t_j (class)")
    ax.set_ylabel("label embedding t_i (class)")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cbar.set_label("cosine similarity cos(t_i, t_j) (unitless)")
    ax.set_title(f"Cosine similarity of the label embeddings\n{run_name} ({a.title})")
    return save_figure(fig, path)
