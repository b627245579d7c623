"""Super-label inference (App. D): predict CIFAR-20 super-labels with a model trained on the
100 CIFAR-100 sub-labels, where every super-label owns 5 sub-label embeddings.

Modes (:data:`MODES`):

* ``naive``  the super-label of the predicted sub-label (by default the classifier head's);
* ``mean``   average the sub-label embeddings of each super-label into one embedding (G, C_D)
             and predict, as in Eq. 3, the super-label whose averaged embedding is most
             similar to the last intermediate block's features h_{L-1};
* ``super``  the super-label of the sub-label embedding most similar to h_{L-1}.

The pure functions work on tensors and any ``fine_to_coarse`` map (a length-Z sequence of
super-label indices); :func:`superlabel_errors` runs a trained model on a split with the
CIFAR-100 map :data:`CIFAR100_FINE_TO_COARSE`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from ..errors import DCLError, choices_error
from ..data.classnames import CIFAR100_FINE_TO_COARSE  # noqa: F401  (re-exported)
from ..losses import dict_logits

MODES = ("naive", "mean", "super")

def _map(fine_to_coarse: Sequence[int] | Tensor, num_fine: int | None = None) -> Tensor:
    m = torch.as_tensor(fine_to_coarse, dtype=torch.long)
    if m.dim() != 1 or (num_fine is not None and m.numel() != num_fine):
        raise DCLError(f"fine_to_coarse must have one entry per sub-label ({num_fine}), got shape {tuple(m.shape)}")
    if m.numel() and int(m.min()) < 0:
        raise DCLError("fine_to_coarse entries must be >= 0")
    return m


def coarse_labels(fine: Tensor, fine_to_coarse: Sequence[int] | Tensor) -> Tensor:
    """Map sub-label indices ``(N,)`` to super-label indices ``(N,)``."""
    return _map(fine_to_coarse)[fine.long().cpu()].to(fine.device)


def mean_embeddings(dictionary: Tensor, fine_to_coarse: Sequence[int] | Tensor) -> Tensor:
    """``(Z, C_D) -> (G, C_D)``: each super-label's embedding is the mean of its sub-labels' rows."""
    m = _map(fine_to_coarse, dictionary.shape[0]).to(dictionary.device)
    g = int(m.max()) + 1
    sums = torch.zeros(g, dictionary.shape[1], dtype=dictionary.dtype, device=dictionary.device)
    sums.index_add_(0, m, dictionary)
    counts = torch.bincount(m, minlength=g).to(dictionary.dtype)
    if bool((counts == 0).any()):
        empty = [int(c) for c in torch.nonzero(counts == 0).flatten()]
        raise DCLError(f"super-labels {empty} have no sub-labels in fine_to_coarse")
    return sums / counts.unsqueeze(1)


def superlabel_predictions(
    mode: str,
    fine_to_coarse: Sequence[int] | Tensor,
    *,
    fine_scores: Tensor | None = None,
    features: Tensor | None = None,
    dictionary: Tensor | None = None,
    logits_fn: Callable[[Tensor, Tensor], Tensor] = dict_logits,
) -> Tensor:
    """Super-label predictions ``(N,)`` by ``mode`` (module doc).

    ``naive``: needs ``fine_scores (N, Z)`` (any sub-label predictor's scores).
    ``super`` / ``mean``: need ``features`` (the last intermediate block's output) and the
    ``dictionary (Z, C_D)``; ``logits_fn(features, embeddings (Z', C_D)) -> (N, Z')`` is the
    similarity of Eq. 3 (default: :func:`dcl.losses.dict_logits`, dot product with pooling).
    ``super`` may instead be given the last block's ``fine_scores`` directly.
    """
    if mode not in MODES:
        raise choices_error("super-label mode", mode, MODES)
    m = _map(fine_to_coarse)
    if mode == "naive" or (mode == "super" and fine_scores is not None):
        if fine_scores is None:
            raise DCLError("super-label mode 'naive' needs sub-label scores")
        return m.to(fine_scores.device)[fine_scores.argmax(dim=1)]
    if features is None or dictionary is None:
        raise DCLError(f"super-label mode {mode!r} needs the last block's features and the dictionary")
    if mode == "super":
        return m.to(dictionary.device)[logits_fn(features, dictionary).argmax(dim=1)]
    return logits_fn(features, mean_embeddings(dictionary, m)).argmax(dim=1)


def superlabel_errors(run, modes: Sequence[str] = MODES, *, split: str = "test",
                      fine_to_coarse: Sequence[int] | Tensor = CIFAR100_FINE_TO_COARSE,
                      predict: str = "head", p: float = 1.0) -> dict[str, float]:
    """Super-label test errors (percent) of a trained :class:`~dcl.engine.Run`, one per mode.

    Labels of ``split`` are sub-labels; their super-labels come from ``fine_to_coarse``.
    ``naive`` maps the sub-label prediction ``predict`` (``head``, ``block:N``, ``ensemble``
    with ``p``); ``mean`` and ``super`` use the last intermediate block and its dictionary.
    """
    from ..evaluate import check_prediction, collect_scores, prediction_scores

    modes = list(modes)
    for mode in modes:
        if mode not in MODES:
            raise choices_error("super-label mode", mode, MODES + ("all",))
    net, method = run.net, run.method
    check_prediction(predict, len(net.blocks) if getattr(method, "layerwise", False) else 0)
    m = _map(fine_to_coarse, net.num_classes)
    probes = {}
    if any(mode in ("mean", "super") for mode in modes):
        if not getattr(method, "layerwise", False) or not hasattr(method, "embedding_logits"):
            raise DCLError(f"super-label modes 'mean' and 'super' need a model trained with a label dictionary "
                           f"(dcl, dcl-s, dcl-o, dcl-ld); this one was trained with {run.cfg.method!r}")
        last = len(net.blocks) - 1
        if "mean" in modes:
            means = mean_embeddings(method.dictionary_of(last).weight.detach(), m.to(run.device))
            probes["mean"] = (last, lambda h: method.embedding_logits(last, h, means))
    scores = collect_scores(net, method, run.eval_loader(split), probes)
    coarse = coarse_labels(scores.labels, m)
    out = {}
    for mode in modes:
        if mode == "naive":
            pred = superlabel_predictions("naive", m, fine_scores=prediction_scores(scores, predict, p))
        elif mode == "super":
            pred = superlabel_predictions("super", m, fine_scores=scores.blocks[-1])
        else:
            pred = scores.probes["mean"].argmax(dim=1)
        out[mode] = 100.0 * float((pred != coarse).float().mean())
    return out
