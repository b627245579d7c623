"""L_feat: the supervised contrastive loss (Eq. 1) on each block's own features, f_phi = identity.

The paper's auxiliary-free contrastive baseline (Tables 1, 2; Fig. 1; App. J.2.4): every
block's output ``h`` is reduced to one vector per sample (conv maps averaged over the H*W
positions, tokens over the P tokens, flat FC outputs used as they are), L2-normalised, and
trained with SupCon at temperature ``contrast_temperature`` (0.07) against the batch's labels
(positives: same label, not itself). No auxiliary parameters (Δθ = 0). The head f_L is
trained by cross-entropy on the detached last block output, as in every local method. It
trains with the pair's recipe (the paper: "the same architectures and hyperparameters as our
models"), so it has no presets of its own.
"""
from __future__ import annotations

from torch import Tensor

from ..config.options import Option
from ..config.rules import choice, real
from ..losses.supcon import pooled_features, supcon_loss
from .base import METHODS
from .local import LocalMethod


#: the supervised contrastive loss's own fields (Eq. 1), read by feat, ll-cont and ll-contrec
SUPCON_OPTIONS = (
    Option("contrast_temperature", float, 0.07, real(0, None, lo_open=True),
           "tau of the supervised contrastive loss (feat, ll-cont, ll-contrec)"),
    Option("supcon_average", str, "anchor", choice("anchor", "pairs"),
           "anchor (per-anchor mean, InfoPro / authors) | pairs (Eq. 1 as printed)"),
)


class Feat(LocalMethod):
    """L_feat on every block output (no auxiliary network)."""
    options = SUPCON_OPTIONS

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        return supcon_loss(pooled_features(h), y, self.cfg.contrast_temperature, self.cfg.supcon_average)


METHODS.register("feat", Feat, description="L_feat: supervised contrastive loss (Eq. 1) on each block's pooled, "
                                           "L2-normalised output; no auxiliary network")
