"""Forward-Forward (Hinton 2022; REFERENCE-FL.md §1 and decisions 3-5).

Every layer learns to tell *positive* data (the image with its true label written over its
first Z pixels) from *negative* data (the same image with a wrong label) by its goodness
G = sum_j h_j^2 (:func:`dcl.losses.goodness`): BCE on ``G - theta``, positives above theta,
negatives below (:func:`dcl.losses.ff_loss`). Between layers the activity is length-normalised
(:func:`~dcl.methods.label_overlay.rms_normalize`), so a layer cannot pass its goodness on,
and the input of each layer is detached (the local loop of :class:`LocalMethod`): no gradient
crosses a layer boundary.

One training step on a batch ``x (B, ...)``, ``y (B,)``::

    y_neg = wrong label for each sample (never y)
    h = [overlay(x, y); overlay(x, y_neg); overlay(x, 1/Z)]             (3B, ...)
    for block l:  out, a = block(n(sg[h]))   # a: the activation at Tap("act")
                  loss_l = ff_loss(G(a[:B]), G(a[B:2B]), theta)   -> block l's optimizer
                  h = out
    head: cross-entropy of head(n(sg[h[2B:]])) on y                -> the head's optimizer

Inference (``Method.predict_batch``):

* ``goodness`` (default): for each label c, overlay c, run forward and sum G over the layers
  (``ff_score_layers``); predict the label with the most goodness. Z forward passes.
  ``block:N`` is layer N's goodness alone; ``ensemble`` weights the layers by l^p.
* ``head``: one pass with the neutral label (1/Z in every label pixel); the network's head
  (e.g. fc's LayerNorm -> Linear(D, Z)) trained by cross-entropy on the detached last layer.

Works on any network whose blocks take the image (``fc``, ``conv``, ...). On ``fc`` the
default normalisation is RMS in front of every block; block 2's own LayerNorm then sees an
already normalised vector, and ``ff_norm=none`` leaves the LayerNorm alone as the normaliser.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config.options import Option
from ..config.presets import register_preset
from ..config.rules import choice, optional, real
from ..errors import DCLError
from ..evaluate import BatchPredictions
from ..losses import ff_loss, goodness
from ..optim import autocast
from .base import METHODS
from .label_overlay import (hard_wrong_labels, neutral_code, one_hot, overlay, pixel_bounds, rms_normalize,
                            wrong_labels)
from .local import LocalMethod


#: Forward-Forward's own fields (REFERENCE-FL; docs/forward-learning.md), also read by SymBa
FF_OPTIONS = (
    Option("ff_goodness", str, "mean", choice("mean", "sum"),
           "goodness G of a layer: mean (mean_j h_j^2, mpezeshki) | sum (sum_j h_j^2, loeweX)"),
    Option("ff_threshold", float | None, None, optional(real(0, None, lo_open=True)),
           "theta; None = the layer's unit count for sum (loeweX), 2.0 for mean (mpezeshki)"),
    Option("ff_norm", str, "rms", choice("rms", "none"),
           "between layers: rms (h / RMS(h), Hinton) | none (the network's own, e.g. fc's LayerNorm)"),
    Option("ff_negatives", str, "random", choice("random", "hard"),
           "wrong label of a negative: random (uniform, never the true one) | hard (from the neutral head)"),
    Option("ff_score_layers", str, "all", choice("all", "skip-first"),
           "goodness inference sums: all layers | skip-first (Hinton: all but the first hidden layer)"),
)


class ForwardForward(LocalMethod):
    """Forward-Forward: label overlay, goodness above / below a threshold per layer."""
    options = FF_OPTIONS

    layerwise = True
    feature_tap = "act"
    extra_predictions = ("goodness",)
    default_prediction = "goodness"

    def build_aux(self) -> None:
        if self.net.num_classes < 2:
            raise DCLError(f"{self.cfg.method} needs at least 2 classes (negatives carry a wrong label)")
        self.bounds = pixel_bounds(self.data)

    # --- the pieces ---------------------------------------------------------------------
    def normalize(self, h: Tensor) -> Tensor:
        """What a block reads: ``h / RMS(h)`` (``ff_norm=rms``) or ``h`` as it is (``none``)."""
        return rms_normalize(h) if self.cfg.ff_norm == "rms" else h

    def labelled(self, x: Tensor, code: Tensor) -> Tensor:
        """``x`` with the label code ``(B, Z)`` written over its first Z values."""
        return overlay(x, code, self.bounds)

    def threshold(self, a: Tensor) -> float:
        """theta for a layer whose activation is ``a (B, ...)``: ``ff_threshold``, else the layer's
        unit count for summed goodness (loeweX) or 2 for the mean (mpezeshki)."""
        if self.cfg.ff_threshold is not None:
            return float(self.cfg.ff_threshold)
        return float(a[0].numel()) if self.cfg.ff_goodness == "sum" else 2.0

    def pair_loss(self, g_pos: Tensor, g_neg: Tensor, a: Tensor) -> Tensor:
        """The layer loss on positive and negative goodness ``(B,)`` each (FF: thresholded BCE)."""
        return ff_loss(g_pos, g_neg, self.threshold(a))

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        """``h (3B, ...)``: block i's activation on [pos; neg; neutral]; the neutral third only
        feeds the head and takes no part in the loss."""
        b = y.shape[0]
        g = goodness(h[:2 * b], self.cfg.ff_goodness)
        return self.pair_loss(g[:b], g[b:], h)

    def negatives(self, x: Tensor, y: Tensor) -> Tensor:
        """The wrong label of each negative: uniform, or (``hard``) drawn from the neutral head."""
        z = self.net.num_classes
        if self.cfg.ff_negatives == "random":
            return wrong_labels(y, z)
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                probs = self.neutral_pass(x)[0].float().softmax(dim=1)
        finally:
            self.net.train(was_training)
        return hard_wrong_labels(y, probs)

    def neutral_pass(self, x: Tensor, on_block=None) -> tuple[Tensor, Tensor]:
        """The neutral-label pass: ``(head logits (B, Z), last block output)``."""
        h = self.labelled(x, neutral_code(x.shape[0], self.net.num_classes, x.device, x.dtype))
        for i in range(len(self.net.blocks)):
            h, _ = self.net.block_forward(i, self.normalize(h), None)
            if on_block is not None:
                on_block(i, h)
        return self.net.head(self.normalize(h)), h

    # --- training -------------------------------------------------------------------------
    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        b, z = y.shape[0], self.net.num_classes
        y_neg = self.negatives(x, y)
        codes = torch.cat([one_hot(y, z, x.dtype), one_hot(y_neg, z, x.dtype), neutral_code(b, z, x.device, x.dtype)])
        h = self.labelled(torch.cat([x, x, x]), codes)
        block_losses = []
        for i in range(len(self.net.blocks)):
            h, loss = self.block_step(i, self.normalize(h), y)
            block_losses.append(loss)
        with autocast(self.cfg, self.device):
            loss = F.cross_entropy(self.net.head(self.normalize(h[2 * b:])), y)
        self.head_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_step(self.head_opt)
        return {"loss": loss.detach(), "block_losses": torch.stack(block_losses)}

    # --- inference --------------------------------------------------------------------------
    def label_goodness(self, x: Tensor) -> list[Tensor]:
        """Each layer's goodness ``(B, Z)`` with every label c = 0..Z-1 overlaid in turn (Z passes)."""
        b, z = x.shape[0], self.net.num_classes
        per_layer = [x.new_zeros(b, z, dtype=torch.float32) for _ in self.net.blocks]
        for c in range(z):
            h = self.labelled(x, one_hot(torch.full((b,), c, device=x.device, dtype=torch.long), z, x.dtype))
            for i in range(len(self.net.blocks)):
                h, a = self.net.block_forward(i, self.normalize(h), self.feature_tap)
                per_layer[i][:, c] = goodness(a, self.cfg.ff_goodness).float()
        return per_layer

    def predict_batch(self, x: Tensor, on_block=None) -> BatchPredictions:
        per_layer = self.label_goodness(x)
        head, _ = self.neutral_pass(x, on_block)
        scored = per_layer[1:] if self.cfg.ff_score_layers == "skip-first" and len(per_layer) > 1 else per_layer
        return BatchPredictions(head=head, blocks=per_layer, extra={"goodness": torch.stack(scored).sum(dim=0)})


METHODS.register("ff", ForwardForward,
                 description="Forward-Forward (Hinton 2022): label overlay, goodness above/below a threshold per layer")


# --- recipes (paper Tables 1-2; REFERENCE-FL; docs/forward-learning.md): found as {method}-{arch}-{data} ---
# FF, SymBa on the FC net (Table VI; the paper quotes their authors' errors, with no recipe for it):
# loeweX's FF schedule (batch 100, 100 epochs, lr cooled in the second half), AdamW 1e-3, wd 3e-4.
FF_FC_RECIPE = dict(arch="fc", batch_size=100, epochs=100, optimizer="adamw", lr=1e-3, weight_decay=3e-4,
                    schedule="multistep", milestones=(50, 75, 90), gamma=0.5, augment=False)
#: the FC width per dataset (Table VI's D)
FC_WIDTHS = (("mnist", 1024), ("fashion-mnist", 1024), ("cifar10", 3072), ("cifar100", 3072))
for _d, _w in FC_WIDTHS:
    register_preset(f"ff-fc-{_d}", f"Forward-Forward (mean goodness, theta 2) on the FC net, {_d}: D={_w}, batch 100, "
                    f"AdamW 1e-3, 100 ep; goodness inference + neutral-label head", **FF_FC_RECIPE, width=_w, data=_d)
