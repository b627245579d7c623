"""CwComp, channel-wise competitive learning (Papachristodoulou et al., AAAI 2024; code
andreaspapac/CwComp): the channels of a block are cut into one group per class, a group's
goodness is that class's score, and the block learns from cross-entropy over the scores.

Block l (reference: src/Layer_cnn.py, ``goodness_factorCW`` and the ``CwC_CE`` criterion):

    g_z = mean over group z of h^2              (B, Z)   group z: channels [z C/Z, (z+1) C/Z)
    L   = CE(g, y)

A flat block's features are cut the same way. Where Z does not divide C the groups differ by
one channel (``torch.tensor_split``; the reference requires Z | C).
Inference (reference: src/Models.py, ``CW_Comp.predict``): argmax of the last block's goodness
(``goodness``, the default mode); every block's goodness is its ``block:N`` mode.
The CFSE network of the paper is ``--arch cfse`` (:mod:`dcl.models.cfse`).
"""
from __future__ import annotations

from torch import Tensor

from ..losses.label_embedding import group_goodness
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod


class ChannelWiseCompetitive(LabelEmbeddingMethod):
    """CwC: ``g_z`` = mean squared activation of channel group z; CE over g."""

    own_prediction = "goodness"

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        return group_goodness(h, self.net.num_classes, squared=True)


METHODS.register("cwc", ChannelWiseCompetitive,
                 description="CwComp (AAAI 2024): one channel group per class, goodness = mean h^2, CE over goodness; "
                             "goodness inference")
