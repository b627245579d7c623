"""Linear probes: how linearly separable each block's features are, for any method.

A method with a label dictionary predicts from every block (Eq. 3); L_feat and L_contrast
(Fig. 1) do not, so comparing methods block by block needs one measure for all: a linear
classifier trained on each block's frozen, pooled feature (the tensor the method's local
loss reads; conv maps and tokens averaged over positions as L_feat does, App. J.2.4; flat
features as they are), scored on the test set.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ..data import Normalize
from ..errors import DCLError
from .runs import block_outputs


def pooled(feature: Tensor) -> Tensor:
    """``(B, C, H, W) | (B, C, P) | (B, F)`` -> ``(B, C | F)``: the mean feature vector."""
    if feature.dim() == 4:
        return feature.float().mean(dim=(2, 3))
    if feature.dim() == 3:
        return feature.float().mean(dim=2)
    return feature.float().flatten(1)


def pooled_features(run, split, batch_size: int = 500) -> tuple[list[Tensor], Tensor]:
    """Every block's pooled feature of every sample of ``split``: ``[(N, C_l)]`` and labels ``(N,)``."""
    normalize = Normalize(run.dataset.spec, run.device)
    per_block: list[list[Tensor]] = []
    for lo in range(0, len(split), batch_size):
        x = normalize(split.images[lo:lo + batch_size].to(run.device))
        outs = block_outputs(run, x)
        if not per_block:
            per_block = [[] for _ in outs]
        for acc, (_, feature) in zip(per_block, outs):
            acc.append(pooled(feature).cpu())
    return [torch.cat(a) for a in per_block], split.labels.clone()


def linear_probe_error(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int, *,
                       epochs: int = 30, lr: float = 1e-2, batch_size: int = 256, seed: int = 0) -> float:
    """Test error (percent) of a linear classifier trained with Adam on standardised ``train_x (N, D)``."""
    mean, std = train_x.mean(0, keepdim=True), train_x.std(0, keepdim=True).clamp_min(1e-6)
    a, b = (train_x - mean) / std, (test_x - mean) / std
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probe = torch.nn.Linear(a.shape[1], num_classes)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(a.shape[0], generator=g)
        for lo in range(0, a.shape[0], batch_size):
            idx = order[lo:lo + batch_size]
            loss = F.cross_entropy(probe(a[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return 100.0 * float((probe(b).argmax(1) != test_y).float().mean())


def probe_errors(run, *, train_samples: int | None = 10000, epochs: int = 30, seed: int = 0,
                 progress: bool = False) -> list[float]:
    """Linear-probe test error (percent) of every block of ``run`` (module doc)."""
    train = run.dataset.train
    if train_samples is not None and train_samples < len(train):
        if train_samples < 2:
            raise DCLError(f"a linear probe needs at least 2 training samples, got {train_samples}")
        g = torch.Generator().manual_seed(seed)
        train = train.subset(torch.randperm(len(train), generator=g)[:train_samples].sort().values)
    tr, ytr = pooled_features(run, train)
    te, yte = pooled_features(run, run.dataset.test)
    out = []
    for a, b in tqdm(list(zip(tr, te)), desc="linear probes", disable=not progress, leave=False):
        out.append(linear_probe_error(a, ytr, b, yte, run.net.num_classes, epochs=epochs, seed=seed))
    return out
