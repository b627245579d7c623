"""What the label-embedding members share (docs/label-embedding.md): a local method whose block
l scores its tensor against Z class vectors, ``s_l = score(reduce(h_l), V_l)`` ``(B, Z)``, and
learns from a loss on ``s_l`` (cross-entropy unless a member says otherwise); no auxiliary
network. A member implements :meth:`LabelEmbeddingMethod.class_scores` (and, if it is not
cross-entropy, :meth:`LabelEmbeddingMethod.scores_loss`); this base gives it

* every block's scores as its layer-wise prediction (``block:N``);
* its own inference, the prediction mode :attr:`LabelEmbeddingMethod.own_prediction` (the
  last block's scores, e.g. CwComp's goodness), reported as ``test_error``;
* the head f_L, trained with cross-entropy on the detached last block, as every local method.

Every block's class vectors and reductions are its own (nothing is shared between blocks), so
the blocks are independent (micro-batches may run pipelined).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..errors import DCLError
from ..evaluate import BatchPredictions
from .local import LocalMethod


class LabelEmbeddingMethod(LocalMethod):
    """Base of the family: block i's loss is ``scores_loss(class_scores(i, h), y)``."""

    layerwise = True
    supports_micro_batches = True  # every member's loss is a mean over samples
    #: the name of the member's own inference (the last block's class scores)
    own_prediction = "last-block"

    extra_predictions = (own_prediction,)
    default_prediction = own_prediction

    def __init_subclass__(cls, **kwargs):
        """A member that names its own inference gets it as its extra and default mode."""
        super().__init_subclass__(**kwargs)
        cls.extra_predictions = (cls.own_prediction,)
        cls.default_prediction = cls.own_prediction

    def require_groups(self) -> None:
        """One channel group per class needs every block at least Z channels wide (one-line DCLError)."""
        z = self.net.num_classes
        for i, shape in enumerate(self.net.tap_shapes(None)):
            if feature_width(shape) < z:
                raise DCLError(f"method {self.cfg.method} cuts each block into one channel group per class, but "
                               f"block {i + 1} has {feature_width(shape)} channels for {z} classes; widen it")

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        """Block ``i``'s scores ``(B, Z)`` of its feature ``h`` against its class vectors."""
        raise NotImplementedError

    def scores_loss(self, i: int, scores: Tensor, y: Tensor) -> Tensor:
        """The loss on block ``i``'s scores ``(B, Z)``: ``CE(s, y)`` by default."""
        return F.cross_entropy(scores, y)

    def block_logits(self, i: int, h: Tensor) -> Tensor:
        return self.class_scores(i, h)

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        return self.scores_loss(i, self.class_scores(i, h), y)

    def blocks_independent(self) -> bool:
        return True

    def own_scores(self, blocks: list[Tensor]) -> Tensor:
        """The member's own inference ``(B, Z)`` from every block's scores: the last block's."""
        return blocks[-1]

    def predict_batch(self, x: Tensor, on_block=None) -> BatchPredictions:
        h, blocks = self.score_blocks(x, range(len(self.net.blocks)), on_block)
        return BatchPredictions(head=self.net.head(h), blocks=blocks,
                                extra={self.own_prediction: self.own_scores(blocks)})


def feature_width(shape: tuple[int, ...]) -> int:
    """The width C of a block's tensor of ``shape`` (no batch dim): channels of a map
    ``(C, H, W)``, the last dim of tokens ``(P, C)`` or flat ``(F,)``."""
    return shape[0] if len(shape) == 3 else shape[-1]
