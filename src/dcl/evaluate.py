"""Predictions and test errors: the classifier head, each block's dictionary (Eq. 3), and the
weighted ensemble of block predictions (App. C.3, lambda_l = l^p).

:func:`collect_scores` runs a split once under ``torch.inference_mode`` and keeps every
prediction score, so any number of prediction modes can be scored without re-running the net.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import DCLError


@dataclass
class Scores:
    """Scores of one split: ``labels (N,)``, ``head (N, Z)``, ``blocks``: one ``(N, Z)`` per block
    with a dictionary (empty for methods without layer-wise prediction), all on the CPU."""

    labels: Tensor
    head: Tensor
    blocks: list[Tensor]
    head_loss: float = float("nan")


@torch.inference_mode()
def collect_scores(net, method, loader) -> Scores:
    """Run ``loader`` through ``net`` in eval mode; gather head logits and block dictionary logits."""
    was_training = net.training
    net.eval()
    heads, labels, blocks = [], [], [[] for _ in net.blocks]
    loss_sum, n = 0.0, 0
    try:
        for x, y in loader:
            h = x
            for i, block in enumerate(net.blocks):
                h = block(h)
                s = method.block_logits(i, h) if method is not None else None
                if s is not None:
                    blocks[i].append(s.float().cpu())
            logits = net.head(h).float()
            loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            n += y.shape[0]
            heads.append(logits.cpu())
            labels.append(y.cpu())
    finally:
        net.train(was_training)
    return Scores(
        labels=torch.cat(labels),
        head=torch.cat(heads),
        blocks=[torch.cat(b) for b in blocks if b],
        head_loss=loss_sum / max(n, 1),
    )


def error_percent(scores: Tensor, labels: Tensor) -> float:
    """Top-1 error in percent of ``scores (N, Z)`` against ``labels (N,)``."""
    return 100.0 * float((scores.argmax(dim=1) != labels).float().mean())


def ensemble(blocks: list[Tensor], p: float) -> Tensor:
    """Weighted sum of layer-wise confidences (App. C.3): sum_l l^p * s_l, blocks numbered from 1."""
    if not blocks:
        raise DCLError("this model has no layer-wise (dictionary) predictions to ensemble")
    total = torch.zeros_like(blocks[0])
    for l, s in enumerate(blocks, start=1):
        total += float(l) ** p * s
    return total


def errors(scores: Scores) -> dict[str, object]:
    """``test_error`` (head) and ``layer_test_errors`` (one per block with a dictionary), percent."""
    return {
        "test_error": error_percent(scores.head, scores.labels),
        "layer_test_errors": [error_percent(s, scores.labels) for s in scores.blocks],
        "test_loss": scores.head_loss,
    }
