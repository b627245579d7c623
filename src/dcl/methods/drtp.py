"""Direct Random Target Projection (Frenkel, Lefebvre & Bol 2021; REFERENCE-FL.md §5).

Each hidden layer k's learning signal is the one-hot target projected by a fixed random
matrix B_k (:class:`~dcl.losses.FixedFeedback`, a buffer in ``aux``) onto the layer's
activation (the block's ``Tap("act")``, before pooling), gated by the activation's
derivative; no output error is used and nothing travels backwards:

    h = x
    for block k:  out, h_k = block(sg[h])                    # one forward through layer k
                  loss_k = sum(h_k * sg[y* B_k])              # grad at h_k = y* B_k (summed over the batch)
                  step layer k's optimizer                    # during the forward pass
                  h = out
    output layer: its own loss on sg[h]: sigmoid + BCE (mean over B*Z) or softmax + CE

Inference is one forward pass (``head``). Works on DRTP's own ``drtp-fc`` / ``drtp-conv`` and on
any other network (``fc``, ``conv``: there the signal reaches the block's activation and trains
the layers of that block).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config.options import Option
from ..config.presets import register_preset
from ..config.rules import choice
from ..losses import FixedFeedback, drtp_loss
from ..optim import autocast
from .base import METHODS
from .label_overlay import one_hot
from .local import LocalMethod


DRTP_LOSS = Option("drtp_loss", str, "bce", choice("bce", "ce"),
                   "output layer: bce (sigmoid + binary cross-entropy) | ce (softmax cross-entropy)")


class DRTP(LocalMethod):
    """DRTP: hidden layers learn from y* B_k, the output layer from its own loss."""
    options = (DRTP_LOSS,)
    own_arch = "drtp-fc"

    feature_tap = "act"

    def build(self) -> None:
        self.build_aux()
        # a block without trainable parameters (drtp_freeze_conv) has no optimizer
        self.block_opts = [self.add_optimizer(ps) if (ps := trainable(block)) else None
                           for block in self.net.blocks]
        self.head_opt = self.add_optimizer(self.net.head.parameters())
        self.shared_opt = None

    def build_aux(self) -> None:
        shapes = self.net.tap_shapes(self.feature_tap)
        self.aux = nn.Module()
        self.aux.feedback = nn.ModuleList(FixedFeedback(self.net.num_classes, s) for s in shapes)

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        target = one_hot(y, self.net.num_classes, h.dtype)
        return drtp_loss(h, self.aux.feedback[i](target))

    def head_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        if self.cfg.drtp_loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, one_hot(y, logits.shape[1], logits.dtype))
        return F.cross_entropy(logits, y)

    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        h, block_losses = x, []
        for i, (block, opt) in enumerate(zip(self.net.blocks, self.block_opts)):
            if opt is None:  # frozen random block: forward only
                with torch.no_grad(), autocast(self.cfg, self.device):
                    h = block(h)
                block_losses.append(torch.zeros((), device=h.device))
                continue
            h, loss = self.block_step(i, h, y)
            block_losses.append(loss / y.shape[0])  # reported per sample; the step used the sum
        with autocast(self.cfg, self.device):
            loss = self.head_loss(self.net.head(h), y)
        self.head_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_step(self.head_opt)
        return {"loss": loss.detach(), "block_losses": torch.stack(block_losses)}


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


METHODS.register("drtp", DRTP,
                 description="DRTP (Frenkel et al. 2021): hidden layers learn from the target through fixed random B_k")


# --- recipes (paper Tables 1-2; REFERENCE-FL; docs/forward-learning.md): found as {method}-{arch}-{data} ---
# DRTP (Frenkel et al. 2021), repo defaults: tanh, sigmoid + BCE output, SGD Nesterov 0.9, lr
# 1e-4, batch 100, 100 epochs. CIFAR conv: the repo's CIFAR-10 example (frozen conv, dropout
# 0.05, CE output, lr 5e-4, 200 epochs) with FC 1000 (decision 1); ...-fc2000 is the example as
# written (DCL's replicated CIFAR-100 row).
_DRTP = dict(batch_size=100, epochs=100, optimizer="sgd", lr=1e-4, momentum=0.9, nesterov=True, weight_decay=0.0,
             schedule="constant", width=1000, dropout=0.0, augment=False, drtp_activation="tanh", drtp_loss="bce")
_DRTP_CIFAR_CONV = _DRTP | dict(epochs=200, lr=5e-4, dropout=0.05, drtp_loss="ce", drtp_freeze_conv=True,
                                augment=True)
for _d in ("mnist", "fashion-mnist", "cifar10", "cifar100"):
    register_preset(f"drtp-drtp-fc-{_d}", f"DRTP, {_d}: FC in-1000-1000-Z tanh, BCE output, SGD Nesterov lr 1e-4, "
            f"batch 100, 100 ep", **_DRTP, arch="drtp-fc", data=_d)
    register_preset(f"drtp-drtp-conv-{_d}", f"DRTP, {_d}: " + ("frozen conv 64, 256 + FC 1000 + Z, dropout 0.05, CE "
            "output, lr 5e-4, 200 ep" if "cifar" in _d else "conv 32 5x5 + FC 1000 + Z, tanh, BCE output, SGD "
            "Nesterov lr 1e-4, batch 100, 100 ep"), **(_DRTP_CIFAR_CONV if "cifar" in _d else _DRTP),
            arch="drtp-conv", data=_d)
register_preset("drtp-drtp-conv-cifar100-fc2000", "DRTP, CIFAR-100: the repo's CIFAR example as written (FC 2000), "
        "DCL's replicated row", **_DRTP_CIFAR_CONV | dict(width=2000), arch="drtp-conv", data="cifar100")
