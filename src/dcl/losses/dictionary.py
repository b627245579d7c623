"""The dictionary contrastive loss L_dict (paper Eq. 2) and layer-wise prediction (Eq. 3).

Shapes
------
A block's output ``h`` is read as K feature vectors of C dims:

* conv maps ``(B, C, H, W)``: K = H*W, one C-dim vector per position;
* token tensors ``(B, C, P)`` (channels second): K = P;
* flat vectors ``(B, K*C)`` with ``segments=K``: segment k is ``h[:, k*C:(k+1)*C]``;
  ``segments=None`` (or 1) means one vector of all F dims.

The dictionary ``D`` is ``(Z, C_D)``, one label embedding t_z per class. When C_D != C each
row is reduced to C dims by 1-D adaptive average pooling (``pool_l`` in Eq. 2, mean over
contiguous groups of C_D/C entries); gradients flow through the pooling into ``D``.

Logits (Eq. 2):  s_z = (1/K) * sum_k <h^k, pool_l(t_z)> / tau   -> (B, Z)
Loss:            L_dict = cross_entropy(s, y)
Prediction (Eq. 3): argmax_z s_z.

Because the dot product is linear, the mean of the K per-vector dot products equals the dot
product with the mean vector; we compute the latter (one (B, C) x (C, Z) matmul, nothing of
size K kept for backward). With ``similarity="cosine"`` (App. H) every dictionary row is
L2-normalised before pooling and every C-dim feature vector h^k is L2-normalised before the
mean, so the result is still the mean of per-vector cosine similarities.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import as_int, as_real, check_labels, check_tensor
from ..errors import DCLError

SIMILARITIES = ("dot", "cosine")
DICT_INITS = ("normal", "orthogonal")
DEFAULT_COSINE_TEMPERATURE = 0.07


def _mean(x: Tensor, dim: int) -> Tensor:
    """``x.mean(dim)`` (bit for bit) computed as sum / K: the backward of a sum is a broadcast
    view of the (B, C) gradient, where mean's backward writes a full (B, C, K) tensor; this
    saves a pass over every block output per step (docs/benchmarks.md)."""
    return x.sum(dim=dim) / x.shape[dim]


def feature_vectors_mean(features: Tensor, segments: int | None = None, normalize: bool = False) -> Tensor:
    """Mean of a block's K feature vectors: ``(B, C, H, W) | (B, C, P) | (B, K*C) -> (B, C)``.

    With ``normalize=True`` each C-dim vector is L2-normalised before the mean (cosine form).
    """
    check_tensor(features, "features")
    if features.dim() == 4:  # (B, C, H, W)
        if segments not in (None, 1):
            raise DCLError(f"segments={segments} only applies to flat (B, F) features, got shape {tuple(features.shape)}")
        vecs = features.flatten(2)  # (B, C, K)
        if normalize:
            vecs = F.normalize(vecs, dim=1)
        return _mean(vecs, 2)
    if features.dim() == 3:  # (B, C, P)
        if segments not in (None, 1):
            raise DCLError(f"segments={segments} only applies to flat (B, F) features, got shape {tuple(features.shape)}")
        vecs = F.normalize(features, dim=1) if normalize else features
        return _mean(vecs, 2)
    if features.dim() == 2:  # (B, K*C)
        k = 1 if segments is None else int(segments)
        width = features.shape[1]
        if k < 1 or width % k:
            raise DCLError(f"segments K={segments} must be a positive divisor of the feature width {width}")
        vecs = features.view(features.shape[0], k, width // k)  # (B, K, C)
        if normalize:
            vecs = F.normalize(vecs, dim=2)
        return _mean(vecs, 1)
    raise DCLError(
        f"features must be (B, C, H, W), (B, C, P) or (B, F); got shape {tuple(features.shape)}"
    )


def pool_dictionary(dictionary: Tensor, width: int) -> Tensor:
    """``pool_l``: reduce each row of ``(Z, C_D)`` to ``(Z, width)`` by 1-D adaptive average pooling."""
    if dictionary.shape[1] == width:
        return dictionary
    if width > dictionary.shape[1]:
        raise DCLError(
            f"dictionary width C_D={dictionary.shape[1]} is narrower than the feature width C={width}; "
            f"use C_D >= the widest block (or the 'project' adapter)"
        )
    return F.adaptive_avg_pool1d(dictionary.unsqueeze(1), width).squeeze(1)


def _check_similarity(similarity: str, temperature: float) -> float:
    if similarity not in SIMILARITIES:
        raise DCLError(f"unknown similarity {similarity!r}; valid choices: {', '.join(SIMILARITIES)}")
    return as_real(temperature, "temperature", positive=True)


def _check_inputs(features: Tensor, dictionary: Tensor, segments: int | None) -> None:
    """Types, dtypes and devices of :func:`dict_logits`'s inputs (no data is read: no sync)."""
    check_tensor(features, "features")
    check_tensor(dictionary, "dictionary")
    if dictionary.dim() != 2 or dictionary.shape[0] < 2 or dictionary.shape[1] < 1:
        raise DCLError(f"dictionary must be (Z, C_D) with Z >= 2 label embeddings, got shape {tuple(dictionary.shape)}")
    if not features.is_floating_point() or features.dtype != dictionary.dtype:
        raise DCLError(f"features ({features.dtype}) and dictionary ({dictionary.dtype}) must have the same "
                       f"floating-point dtype; convert one (e.g. features.float())")
    if features.device != dictionary.device:
        raise DCLError(f"features are on {features.device} but the dictionary is on {dictionary.device}")
    if segments is not None:
        as_int(segments, "segments", lo=1)


def dict_logits(
    features: Tensor,
    dictionary: Tensor,
    segments: int | None = None,
    similarity: str = "dot",
    temperature: float = 1.0,
) -> Tensor:
    """Dictionary logits of Eq. 2: ``features`` (see module doc), ``dictionary (Z, C_D)`` -> ``(B, Z)``."""
    temperature = _check_similarity(similarity, temperature)
    _check_inputs(features, dictionary, segments)
    cosine = similarity == "cosine"
    h = feature_vectors_mean(features, segments, normalize=cosine)  # (B, C)
    d = F.normalize(dictionary, dim=1) if cosine else dictionary
    t = pool_dictionary(d, h.shape[1])  # (Z, C)
    logits = h @ t.t()
    return logits / temperature if temperature != 1.0 else logits


def dict_loss(
    features: Tensor,
    labels: Tensor,
    dictionary: Tensor,
    segments: int | None = None,
    similarity: str = "dot",
    temperature: float = 1.0,
) -> Tensor:
    """L_dict (Eq. 2): cross-entropy of :func:`dict_logits` against integer ``labels (B,)``
    in ``[0, Z)`` (checked: one reduction over the labels)."""
    logits = dict_logits(features, dictionary, segments, similarity, temperature)
    check_labels(labels, logits.shape[0], dictionary.shape[0])
    return F.cross_entropy(logits, labels.long())


def init_dictionary(
    num_classes: int,
    dim: int,
    init: str = "normal",
    norm: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A ``(Z, C_D)`` dictionary: i.i.d. N(0, 1) (``normal``, D^N / D^Z) or orthogonal rows (D^⊥).

    ``orthogonal`` needs Z <= C_D; its rows are orthonormal before rescaling. ``norm`` rescales
    every row to that L2 norm (Fig. 4 scales static dictionaries to the norm of a trained D^Z);
    ``orthogonal`` without ``norm`` uses sqrt(C_D), the expected row norm of a N(0, 1) row.
    """
    if init not in DICT_INITS:
        raise DCLError(f"unknown dictionary init {init!r}; valid choices: {', '.join(DICT_INITS)}")
    num_classes = as_int(num_classes, "num_classes (Z)", lo=2)
    dim = as_int(dim, "dim (C_D)", lo=1)
    if norm is not None:
        norm = as_real(norm, "dictionary row norm", positive=True)
    d = torch.randn(num_classes, dim, generator=generator)
    if init == "orthogonal":
        if num_classes > dim:
            raise DCLError(f"an orthogonal dictionary needs Z <= C_D, got Z={num_classes}, C_D={dim}")
        q, r = torch.linalg.qr(d.t())  # (C_D, Z) with orthonormal columns
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        d = q.t().contiguous()
        if norm is None:
            norm = float(dim) ** 0.5
    if norm is not None:
        d = d * (norm / d.norm(dim=1, keepdim=True))
    return d


class DictionaryContrastiveLoss(nn.Module):
    """Owns a label-embedding dictionary D (Z, C_D) and computes L_dict (Eq. 2) against it.

    Args:
        num_classes: Z.
        dim: C_D, the embedding width (the widest block the loss is used on).
        static: ``True`` for DCL-S: D is a buffer, never trained (t = sg[t]); ``False`` for
            adaptive DCL: D is a parameter.
        similarity: ``"dot"`` (default) or ``"cosine"`` (App. H).
        temperature: tau; defaults to 1.0 for dot product and 0.07 for cosine.
        init, norm: see :func:`init_dictionary`.

    ``forward(features, labels, segments=None) -> scalar loss``;
    ``logits(features, segments=None) -> (B, Z)``; ``predict(...) -> (B,)`` (Eq. 3).
    An optional ``projection`` module (``C_D -> C``) replaces pooling (paper Table 5, f_P^l).
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        *,
        static: bool = False,
        similarity: str = "dot",
        temperature: float | None = None,
        init: str = "normal",
        norm: float | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if temperature is None:
            temperature = DEFAULT_COSINE_TEMPERATURE if similarity == "cosine" else 1.0
        temperature = _check_similarity(similarity, temperature)
        self.num_classes = as_int(num_classes, "num_classes (Z)", lo=2)
        self.dim = as_int(dim, "dim (C_D)", lo=1)
        self.static = bool(static)
        self.similarity = similarity
        self.temperature = float(temperature)
        weight = init_dictionary(num_classes, dim, init, norm, generator)
        if self.static:
            self.register_buffer("weight", weight)
        else:
            self.weight = nn.Parameter(weight)

    def embeddings(self) -> Tensor:
        """The dictionary ``(Z, C_D)``; detached for a static dictionary."""
        return self.weight.detach() if self.static else self.weight

    def logits(self, features: Tensor, segments: int | None = None, projection: nn.Module | None = None,
               weight: Tensor | None = None) -> Tensor:
        """``(B, Z)`` logits; ``weight (Z', C_D)`` replaces the dictionary (e.g. detached, or
        super-label embeddings), giving ``(B, Z')``."""
        check_tensor(features, "features")
        d = self.embeddings() if weight is None else weight
        if projection is not None:
            if self.similarity == "cosine":
                d = F.normalize(d, dim=1)
            d = projection(d)  # (Z, C)
            h = feature_vectors_mean(features, segments, normalize=self.similarity == "cosine")
            if self.similarity == "cosine":
                d = F.normalize(d, dim=1)
            return (h @ d.t()) / self.temperature
        return dict_logits(features, d, segments, self.similarity, self.temperature)

    def forward(
        self, features: Tensor, labels: Tensor, segments: int | None = None, projection: nn.Module | None = None,
        weight: Tensor | None = None, check: bool = True,
    ) -> Tensor:
        """L_dict of ``features`` against ``labels (B,)``. ``check``: check the labels' shape and
        range (one reduction and a host read); a method whose ``train_step`` checked its batch
        already passes False."""
        logits = self.logits(features, segments, projection, weight)
        if check:
            check_labels(labels, logits.shape[0], logits.shape[1])
        return F.cross_entropy(logits, labels)

    @torch.no_grad()
    def predict(self, features: Tensor, segments: int | None = None, projection: nn.Module | None = None) -> Tensor:
        """Layer-wise prediction (Eq. 3): the label whose embedding is most similar, ``(B,)``."""
        return self.logits(features, segments, projection).argmax(dim=1)

    def extra_repr(self) -> str:
        kind = "static" if self.static else "adaptive"
        return f"Z={self.num_classes}, C_D={self.dim}, {kind}, similarity={self.similarity}, tau={self.temperature}"
