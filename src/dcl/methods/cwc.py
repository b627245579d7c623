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

from ..config.presets import register_preset
from ..losses.label_embedding import group_goodness
from .base import METHODS
from .label_embedding import LabelEmbeddingMethod


class ChannelWiseCompetitive(LabelEmbeddingMethod):
    """CwC: ``g_z`` = mean squared activation of channel group z; CE over g."""

    own_prediction = "goodness"

    def build_aux(self) -> None:
        self.require_groups()

    def class_scores(self, i: int, h: Tensor) -> Tensor:
        return group_goodness(h, self.net.num_classes, squared=True)


METHODS.register("cwc", ChannelWiseCompetitive,
                 description="CwComp (AAAI 2024): one channel group per class, goodness = mean h^2, CE over goodness; "
                             "goodness inference")

# CwComp's recipe (src/configure.py: batch 128, 20 epochs, CFSE; src/Layer_cnn.py: one Adam per layer, lr 0.01,
# no weight decay, no schedule); the reference's input normalisation and "ILT" layer schedule are not reproduced
for _d in ("mnist", "fashion-mnist"):
    register_preset(f"cwc-cfse-{_d}", f"CwComp on its CFSE CNN, {_d}: Adam lr 0.01, wd 0, batch 128, 20 ep "
                    f"(CwComp src/configure.py, src/Layer_cnn.py)", arch="cfse", data=_d, optimizer="adam", lr=0.01,
                    weight_decay=0.0, batch_size=128, epochs=20, schedule="constant")
