"""Information in each block's features (paper Fig. 3, I; App. J.2.7).

For every block l (and, as a reference, the input itself as layer 0) two small networks are
trained on the frozen features h_l of a trained run:

* I(h, x): a reconstruction decoder f_psi (App. J.2.7; InfoPro's): bilinear upsampling of h to
  the image size, Conv3x3(C, 12) -> BatchNorm -> ReLU -> Conv3x3(12, c_img) -> sigmoid, trained
  with L_rec = BCE(f_psi(h), x) against the image in [0, 1]; the estimate is 1 - L_rec (the
  mean training loss of the last epoch, as the paper uses the train loss).
* I(h, y): a classifier on h (the paper trains a ResNet-32; here a small conv net, see
  :class:`FeatureClassifier`); the estimate is its best test accuracy (a fraction in [0, 1]).
* I(h, r) <= I(h, x) - I(h, y) (Wang et al. 2020); the paper plots that bound plus 1 (so it is
  positive): I_r = I_x - I_y + 1.

Both use the paper's optimiser (PyTorch's default Adam, lr 1e-3); the paper trains 10 epochs
on the whole training set, the defaults here use a subset and fewer epochs (CPU-friendly):
pass ``train_samples=None, epochs=10`` for the paper's setting. Flat features (FC blocks)
get linear counterparts (:class:`ReconstructionDecoder`, :class:`FeatureClassifier`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..data import Normalize
from ..errors import DCLError
from .plotting import COLORS, MARKERS, pyplot, save_figure, write_csv
from .runs import block_outputs, spatial_grid


class ReconstructionDecoder(nn.Module):
    """f_psi: features -> image logits ``(B, c_img, H, W)`` (the sigmoid is inside the BCE).

    Maps ``(B, C, h, w)``: upsample to (H, W) (bilinear, align_corners=True) -> Conv3x3(C, 12)
    -> BN -> ReLU -> Conv3x3(12, c_img). Flat ``(B, F)``: Linear(F, c_img*H*W)."""

    def __init__(self, feature_shape: tuple[int, ...], image_shape: tuple[int, int, int], hidden: int = 12):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c_img = image_shape[0]
        if len(feature_shape) == 3:
            self.net = nn.Sequential(nn.Conv2d(feature_shape[0], hidden, 3, padding=1), nn.BatchNorm2d(hidden),
                                     nn.ReLU(), nn.Conv2d(hidden, c_img, 3, padding=1))
            self.flat = False
        else:
            self.net = nn.Linear(feature_shape[0], c_img * image_shape[1] * image_shape[2])
            self.flat = True

    def forward(self, h: Tensor) -> Tensor:
        if self.flat:
            return self.net(h).view(h.shape[0], *self.image_shape)
        h = F.interpolate(h, size=self.image_shape[1:], mode="bilinear", align_corners=True)
        return self.net(h)


class FeatureClassifier(nn.Module):
    """A small classifier of features: maps ``(B, C, h, w)`` are upsampled to the image size
    (App. J.2.7 aligns every map to one size) -> Conv3x3(C, 32, stride 2) -> BN -> ReLU ->
    Conv3x3(32, 64, stride 2) -> BN -> ReLU -> global average pool -> Linear(64, Z).
    Flat ``(B, F)``: Linear(F, 256) -> ReLU -> Linear(256, Z)."""

    def __init__(self, feature_shape: tuple[int, ...], image_hw: tuple[int, int], num_classes: int):
        super().__init__()
        self.image_hw = tuple(image_hw)
        if len(feature_shape) == 3:
            self.net = nn.Sequential(
                nn.Conv2d(feature_shape[0], 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))
            self.flat = False
        else:
            self.net = nn.Sequential(nn.Linear(feature_shape[0], 256), nn.ReLU(), nn.Linear(256, num_classes))
            self.flat = True

    def forward(self, h: Tensor) -> Tensor:
        if not self.flat:
            h = F.interpolate(h, size=self.image_hw, mode="bilinear", align_corners=True)
        return self.net(h)


def estimator_features(run, x: Tensor, include_input: bool = True) -> list[Tensor]:
    """The features the estimators read: the input ``x`` (layer 0, if ``include_input``), then
    every block's local feature as a map ``(B, C, h, w)`` where it has a spatial layout, else
    flat ``(B, F)`` (token tensors without a square grid: the token mean). When no block is
    spatial (FC), the input is flattened too, so that layer 0 gets the same estimators."""
    feats = []
    for i, (_, feature) in enumerate(block_outputs(run, x)):
        grid = spatial_grid(run.net, i, feature)
        if grid is not None:
            feats.append(grid.float())
        elif feature.dim() == 3:
            feats.append(feature.float().mean(dim=2))
        else:
            feats.append(feature.float().flatten(1))
    if include_input:
        feats.insert(0, x if any(f.dim() == 4 for f in feats) else x.flatten(1))
    return [f.clone() for f in feats]  # ordinary tensors (not inference tensors) for autograd


@dataclass
class MutualInfo:
    """Per layer (``layers``: "input", "block 1", ...): the estimates ``i_hx`` (1 - BCE),
    ``i_hy`` (best test accuracy), ``i_hr`` (I_x - I_y + 1), and the training curves:
    ``decoder_loss[l][e]`` (mean BCE of epoch e), ``classifier_accuracy[l][e]`` (test)."""

    name: str
    layers: list[str]
    i_hx: list[float]
    i_hy: list[float]
    i_hr: list[float]
    decoder_loss: list[list[float]] = field(default_factory=list)
    classifier_accuracy: list[list[float]] = field(default_factory=list)
    title: str = ""


def _subset(split, n: int | None, seed: int):
    if n is None or n >= len(split):
        return split
    if n < 2:
        raise DCLError(f"the estimators need at least 2 samples, got {n}")
    g = torch.Generator().manual_seed(seed)
    return split.subset(torch.randperm(len(split), generator=g)[:n].sort().values)


def estimate_mutual_information(run, *, name: str = "", train_samples: int | None = 10000,
                                test_samples: int | None = 2000, epochs: int = 3, batch_size: int = 128,
                                lr: float = 1e-3, include_input: bool = True, seed: int = 0,
                                progress: bool = False, log: Callable[[str], None] | None = None) -> MutualInfo:
    """Train the decoders and classifiers of every layer of ``run`` at once (one pass of the
    frozen network per batch feeds all of them) and return the estimates (module doc).
    ``log`` gets, after the first step, the estimated time of the whole estimate."""
    if epochs < 1 or batch_size < 2:
        raise DCLError(f"epochs must be >= 1 and batch_size >= 2, got {epochs} and {batch_size}")
    spec, device = run.dataset.spec, run.device
    train, test = _subset(run.dataset.train, train_samples, seed), _subset(run.dataset.test, test_samples, seed)
    normalize = Normalize(spec, device)
    torch.manual_seed(seed)
    probe = estimator_features(run, normalize(train.images[:2].to(device)), include_input)
    shapes = [tuple(f.shape[1:]) for f in probe]
    decoders = [ReconstructionDecoder(s, spec.in_shape).to(device) for s in shapes]
    classifiers = [FeatureClassifier(s, spec.in_shape[1:], run.net.num_classes).to(device) for s in shapes]
    opts = [torch.optim.Adam(list(d.parameters()) + list(c.parameters()), lr=lr) for d, c in zip(decoders, classifiers)]
    n_layers = len(shapes)
    dec_hist: list[list[float]] = [[] for _ in range(n_layers)]
    acc_hist: list[list[float]] = [[] for _ in range(n_layers)]
    g = torch.Generator().manual_seed(seed)
    n = len(train)
    steps = n // batch_size + (1 if n % batch_size > 1 else 0)
    bar = tqdm(total=epochs * steps, desc="mutual-info estimators", disable=not progress, leave=False)
    t_start, t_first = time.perf_counter(), None
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        sums, count = torch.zeros(n_layers, dtype=torch.float64), 0
        for m in decoders + classifiers:
            m.train()
        for b in range(steps):
            idx = order[b * batch_size:(b + 1) * batch_size]
            raw, y = train.images[idx].to(device), train.labels[idx].to(device)
            target = raw.float() / 255.0
            feats = estimator_features(run, normalize(raw), include_input)
            for l_, (h, dec, cls, opt) in enumerate(zip(feats, decoders, classifiers, opts)):
                rec = F.binary_cross_entropy_with_logits(dec(h), target)
                loss = rec + F.cross_entropy(cls(h), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sums[l_] += float(rec.detach()) * y.shape[0]
            count += y.shape[0]
            bar.update(1)
            if log is not None and t_first is None:
                t_first = time.perf_counter() - t_start
                total = epochs * steps
                log(f"mutual-info {name or run.cfg.method}: about {t_first * total * 1.1:.0f} s ({epochs} epochs x "
                    f"{steps} steps of {batch_size} at {t_first:.2f} s each, plus the test passes); "
                    f"--train-samples and --epochs set the budget")
        for l_ in range(n_layers):
            dec_hist[l_].append(float(sums[l_]) / count)
        for l_, acc in enumerate(_test_accuracy(run, classifiers, test, normalize, include_input, batch_size)):
            acc_hist[l_].append(acc)
    bar.close()
    layers = (["input"] if include_input else []) + [f"block {i}" for i in range(1, len(run.net.blocks) + 1)]
    i_hx = [1.0 - h[-1] for h in dec_hist]
    i_hy = [max(a) for a in acc_hist]
    return MutualInfo(name or run.cfg.method, layers, i_hx, i_hy, [a - b + 1.0 for a, b in zip(i_hx, i_hy)],
                      dec_hist, acc_hist, title=f"{run.cfg.arch}, {run.cfg.data}")


@torch.no_grad()
def _test_accuracy(run, classifiers, test, normalize, include_input: bool, batch_size: int) -> list[float]:
    for c in classifiers:
        c.eval()
    correct = torch.zeros(len(classifiers), dtype=torch.float64)
    for lo in range(0, len(test), max(batch_size, 256)):
        raw = test.images[lo:lo + max(batch_size, 256)].to(run.device)
        y = test.labels[lo:lo + max(batch_size, 256)].to(run.device)
        for l_, (h, c) in enumerate(zip(estimator_features(run, normalize(raw), include_input), classifiers)):
            correct[l_] += float((c(h).argmax(1) == y).sum())
    return [float(v) / len(test) for v in correct]


def mutual_info_csv(results: list[MutualInfo], path) -> Path:
    rows = []
    for r in results:
        for k, layer in enumerate(r.layers):
            rows.append([r.name, k if r.layers[0] == "input" else k + 1, layer, r.i_hx[k], r.i_hy[k], r.i_hr[k],
                         " ".join(f"{v:.4f}" for v in r.decoder_loss[k]),
                         " ".join(f"{v:.4f}" for v in r.classifier_accuracy[k])])
    return write_csv(path, ["run", "layer", "name", "I_hx_est", "I_hy_est", "I_hr_bound_plus_1",
                            "decoder_bce_per_epoch", "classifier_test_accuracy_per_epoch"], rows)


def plot_mutual_info(results: list[MutualInfo], path, title: str | None = None) -> Path:
    """Fig. 3 / I: (a) I(h, x), (b) I(h, y), (c) the bound on I(h, r), per layer, one line per run."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = (("i_hx", "(a) $I(h, x)$ estimate", "1 - BCE of the reconstruction (nats per pixel)"),
              ("i_hy", "(b) $I(h, y)$ estimate", "best test accuracy of the classifier (fraction)"),
              ("i_hr", "(c) $I(h, r)$ bound estimate", "$I(h,x) - I(h,y) + 1$ (arbitrary units)"))
    for ax, (attr, name, ylabel) in zip(axes, panels):
        for k, r in enumerate(results):
            xs = [0 if layer == "input" else int(layer.split()[1]) for layer in r.layers]
            ax.plot(xs, getattr(r, attr), marker=MARKERS[k % len(MARKERS)], color=COLORS[k % len(COLORS)],
                    label=r.name, linewidth=2, markersize=7)
        layers = results[0].layers
        xs = [0 if layer == "input" else int(layer.split()[1]) for layer in layers]
        ax.set_xticks(xs, ["input" if x == 0 else str(x) for x in xs])
        ax.set_xlabel("layer (block number; input = the image itself)")
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        ax.legend(title="run", fontsize=9)
    fig.suptitle(title or f"Information in the local features ({results[0].title})")
    fig.tight_layout()
    return save_figure(fig, path)
