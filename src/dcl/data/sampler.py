"""The class-limited batch order of Nøkland & Eidnes' CIFAR-100 sim / predsim recipes
(REFERENCE-LL §3): each batch starts from ``seeds`` random samples (20) and is filled with
further samples of their classes, so a batch of 128 holds at most 20 classes and the
similarity-matching loss sees many same-class pairs. Used for the first
``class_limited_epochs`` epochs (200 in those recipes), then plain shuffling.

Deterministic: the order is drawn from the loader's ``(seed, epoch)`` generator, so a resumed
run sees the same batches.
"""
from __future__ import annotations

import heapq
from itertools import islice

import torch
from torch import Tensor


def class_limited_order(labels: Tensor, batch_size: int, seeds: int, generator: torch.Generator) -> Tensor:
    """A permutation of ``range(N)`` for ``labels (N,)`` whose consecutive chunks of
    ``batch_size`` are class-limited batches: ``seeds`` random unused samples, then unused
    samples of their classes in random order (topped up with other unused samples when those
    classes run out; the last batch takes what is left)."""
    n = labels.numel()
    perm = torch.randperm(n, generator=generator).tolist()  # the random order everything follows
    label = labels.cpu().tolist()
    rank = [0] * n
    by_class: dict[int, list[int]] = {}
    for r, s in enumerate(perm):
        rank[s] = r
        by_class.setdefault(label[s], []).append(s)  # each class's samples in random order
    start = dict.fromkeys(by_class, 0)  # per class: everything before this index is used
    used = bytearray(n)
    cursor, order = 0, []

    def unused(c: int):
        lst, i = by_class[c], start[c]
        while i < len(lst) and used[lst[i]]:
            i += 1
        start[c] = i
        return (s for s in islice(lst, i, None) if not used[s])

    def take(samples) -> list[int]:
        samples = list(samples)
        for s in samples:
            used[s] = 1
        order.extend(samples)
        return samples

    while len(order) < n:
        size = min(batch_size, n - len(order))
        first = []
        while len(first) < min(seeds, size):  # random unused samples
            if not used[perm[cursor]]:
                first += take([perm[cursor]])
            cursor += 1
        classes = sorted({label[s] for s in first})
        merged = heapq.merge(*(unused(c) for c in classes), key=rank.__getitem__)  # their classes, random order
        need = size - len(first) - len(take(islice(merged, size - len(first))))
        if need:  # those classes ran out: other unused samples
            take(islice((s for s in islice(perm, cursor, None) if not used[s]), need))
    return torch.tensor(order, dtype=torch.long)
