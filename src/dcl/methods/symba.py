"""SymBa (Lee & Song 2023; REFERENCE-FL.md §2, decision 5): Forward-Forward's layers, label
overlay, normalisation, negatives and goodness inference, with the symmetric pairwise loss

    L = mean_n softplus(-alpha * (G_pos,n - G_neg,n)),   alpha = symba_alpha (4)

on each positive and the negative built from the same image (:func:`dcl.losses.symba_loss`):
no threshold, and the positive and negative pulls are equal. The paper's Intrinsic Class
Pattern overlay could not be recovered from its text, so the one-hot overlay is used.
"""
from __future__ import annotations

from torch import Tensor

from ..config.options import Option
from ..config.presets import register_preset
from ..config.rules import real
from ..losses import symba_loss
from .base import METHODS
from .ff import FC_WIDTHS, FF_FC_RECIPE, ForwardForward


SYMBA_ALPHA = Option("symba_alpha", float, 4.0, real(0, None, lo_open=True), "L = softplus(-alpha * (G_pos - G_neg))")


class SymBa(ForwardForward):
    """SymBa: FF with the symmetric, threshold-free pairwise loss."""
    options = ForwardForward.options + (SYMBA_ALPHA,)

    def pair_loss(self, g_pos: Tensor, g_neg: Tensor, a: Tensor) -> Tensor:
        return symba_loss(g_pos, g_neg, self.cfg.symba_alpha)


METHODS.register("symba", SymBa,
                 description="SymBa (Lee & Song 2023): FF's layers with the symmetric pairwise loss, alpha=4")


# --- recipe: FF's schedule on the FC net (the paper quotes SymBa's own error, with no recipe for it)
for _d, _w in FC_WIDTHS:
    register_preset(f"symba-fc-{_d}", f"SymBa (alpha 4) on the FC net, {_d}: D={_w}, batch 100, AdamW 1e-3, 100 ep; "
                    f"goodness inference + neutral-label head", **FF_FC_RECIPE, width=_w, data=_d)
