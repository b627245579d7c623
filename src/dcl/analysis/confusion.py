"""Confusion and label-embedding similarity (paper Fig. 7, VI b).

    conf[i, j]  = fraction of the test images of class i predicted as j  (each row sums to 1)
    rate(i, j)  = (conf[i, j] + conf[j, i]) / 2        for every label pair i < j (Fig. 7)
    sim(i, j)   = cos(t_i, t_j)                       of the label embeddings

and the Pearson correlation coefficient between rate and sim over all pairs. The paper finds
that the more two labels are confused, the more distinct their embeddings (a negative r).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..evaluate import check_prediction, collect_scores, prediction_scores
from ..errors import DCLError
from .embeddings import cosine_similarity, label_embeddings
from .plotting import label_heatmap, pyplot, save_figure, write_csv
from .runs import has_dictionary, run_class_names


def confusion_counts(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """``(Z, Z)`` int64 counts: row = true class, column = predicted class."""
    labels, predictions = labels.long().cpu(), predictions.long().cpu()
    flat = labels * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def confusion_rates(counts: Tensor) -> Tensor:
    """Row-normalised confusion ``(Z, Z)`` float64: ``conf[i, j]`` = P(predicted j | true i).
    Every row of a class with test images sums to 1 (a class without any stays all zero)."""
    c = counts.double()
    return c / c.sum(dim=1, keepdim=True).clamp_min(1)


def pair_rates(rates: Tensor) -> list[tuple[int, int, float]]:
    """``[(i, j, (conf[i, j] + conf[j, i]) / 2)]`` for every pair i < j (Fig. 7's confusion rate)."""
    z = rates.shape[0]
    return [(i, j, float(rates[i, j] + rates[j, i]) / 2) for i in range(z) for j in range(i + 1, z)]


def pearson(x, y) -> float:
    """Pearson correlation coefficient of two equal-length sequences (nan if one is constant)."""
    a, b = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")


@dataclass
class ConfusionAnalysis:
    """``counts`` and ``rates (Z, Z)``, ``pairs``: ``(i, j, confusion rate, embedding cosine
    similarity)`` per label pair (similarity None without a dictionary), ``r`` their Pearson
    correlation, the prediction mode and its test error (percent)."""

    counts: Tensor
    rates: Tensor
    pairs: list[tuple[int, int, float, float | None]]
    r: float | None
    class_names: tuple[str, ...]
    predict: str
    error: float
    title: str = ""


def analyze_confusion(run, *, predict: str | None = None, p: float = 1.0, split: str = "test",
                      block: int | None = None) -> ConfusionAnalysis:
    """The confusion of ``run``'s prediction mode ``predict`` (default: the method's own) on
    ``split`` and its relation to the label-embedding similarity (``block`` as in
    :func:`~dcl.analysis.embeddings.label_embeddings`)."""
    method = run.method
    predict = predict or method.default_prediction
    check_prediction(predict, method.num_layerwise, method.extra_predictions)
    scores = collect_scores(run.net, method, run.eval_loader(split))
    preds = prediction_scores(scores, predict, p).argmax(dim=1)
    z = run.net.num_classes
    counts = confusion_counts(scores.labels, preds, z)
    rates = confusion_rates(counts)
    sim = cosine_similarity(label_embeddings(run, block)) if has_dictionary(run) else None
    pairs = [(i, j, r, float(sim[i, j]) if sim is not None else None) for i, j, r in pair_rates(rates)]
    r = pearson([q[2] for q in pairs], [q[3] for q in pairs]) if sim is not None and len(pairs) > 1 else None
    error = 100.0 * float((preds != scores.labels).double().mean())
    return ConfusionAnalysis(counts, rates, pairs, r, run_class_names(run), predict, error,
                             title=f"{run.cfg.arch}, {run.cfg.data}, {run.cfg.method}")


def confusion_csv(a: ConfusionAnalysis, path, pairs_path) -> tuple[Path, Path]:
    """``path``: the matrix (true, predicted, count, rate); ``pairs_path``: one row per label pair."""
    names, z = a.class_names, len(a.class_names)
    m = write_csv(path, ["true", "predicted", "count", "rate"],
                  ([names[i], names[j], int(a.counts[i, j]), float(a.rates[i, j])] for i in range(z) for j in range(z)))
    q = write_csv(pairs_path, ["label_i", "label_j", "confusion_rate", "embedding_cosine_similarity"],
                  ([names[i], names[j], c, s if s is not None else ""] for i, j, c, s in a.pairs))
    return m, q


def plot_confusion_matrix(a: ConfusionAnalysis, path, run_name: str = "") -> Path:
    """Heat map of the confusion rates (Fig. VI b: x = true label, y = predicted label)."""
    z = len(a.class_names)
    pct = 100.0 * a.rates.t().numpy()          # rows: predicted, columns: true
    fig, ax, im = label_heatmap(pct, a.class_names, "Blues", 0, 100)
    if z <= 20:
        for i in range(z):
            for j in range(z):
                v = pct[i, j]
                if v >= 0.05:
                    ax.text(j, i, f"{v:.1f}" if v < 99.95 else "100", ha="center", va="center",
                            fontsize=8 if z <= 12 else 6, color="white" if v > 50 else "black")
    ax.set_xlabel("true label")
    ax.set_ylabel("predicted label")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cbar.set_label("share of the true label's test images (%)")
    ax.set_title(f"Confusion matrix ({a.predict}, test error {a.error:.2f} %)\n{run_name} ({a.title})")
    return save_figure(fig, path)


def plot_confusion_vs_similarity(a: ConfusionAnalysis, path, run_name: str = "", label_top: int = 6) -> Path:
    """Fig. 7: one point per label pair, confusion rate against embedding cosine similarity,
    with a least-squares line and the Pearson r; the ``label_top`` most confused pairs named."""
    if a.r is None:
        raise DCLError("confusion against embedding similarity needs a model trained with a label dictionary")
    plt = pyplot()
    names = a.class_names
    x = [q[3] for q in a.pairs]
    y = [100.0 * q[2] for q in a.pairs]
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    ax.scatter(x, y, s=28, alpha=0.75, color="#1f77b4", label=f"label pair ({len(a.pairs)} pairs)")
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    if float(xt.std()) > 0:
        slope = float(((xt - xt.mean()) * (yt - yt.mean())).sum() / ((xt - xt.mean()) ** 2).sum())
        xs = torch.linspace(float(xt.min()), float(xt.max()), 2)
        ax.plot(xs.numpy(), (yt.mean() + slope * (xs - xt.mean())).numpy(), color="#d62728",
                label=f"least-squares fit (Pearson r = {a.r:.2f})")
    order = sorted(range(len(a.pairs)), key=lambda k: -a.pairs[k][2])[:label_top]
    for n, k in enumerate(order):  # alternate above / below so that close points stay readable
        i, j, _, _ = a.pairs[k]
        ax.annotate(f"{names[i]} / {names[j]}", (x[k], y[k]), textcoords="offset points",
                    xytext=(5, 3 if n % 2 == 0 else -11), fontsize=9)
    ax.set_xlabel("cosine similarity of the two label embeddings (unitless)")
    ax.set_ylabel("confusion rate of the pair (%)")
    ax.set_title(f"Confusion rate vs label-embedding similarity ({a.predict})\n{run_name} ({a.title})")
    ax.legend(loc="best")
    return save_figure(fig, path)
