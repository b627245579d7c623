"""L_contrast with an auxiliary head per block (LL-cont) and with image reconstruction
(LL-contrec): paper Eq. 1, App. J.2.4, Tables 3, 4, V; REFERENCE-LL §6-8.

* ``ll-cont``: every block's tensor at the N&E read-out point (``feature_tap = "act"``: before
  pool and dropout on VGG8B, as the authors' code keeps it; the block output where a block has
  no tap) is reduced to a vector (:mod:`.ll_aux`: conv maps average-pooled to A = ``aux_dim``
  values, or globally with ``aux_dim=None``; tokens averaged; flat kept), projected by
  Linear(A', ``proj_dim``=128), L2-normalised and trained with SupCon (tau 0.07, per-anchor
  average, decision 9). The heads keep PyTorch's default init (decision 5).
* ``ll-contrec``: L_l = alpha*beta_l*L_contrast + alpha*(1-beta_l)*L_rec with
  beta_l = l/(L-1) (l = 1..L-1, ``contrec_alpha`` = alpha = 1). L_rec decodes the image from
  the same tensor (InfoPro's decoder, :mod:`dcl.losses.reconstruction`) and compares it by BCE
  with the input pixels in [0, 1]; the last block has beta = 1 and so no decoder.

Δθ (REFERENCE-LL §8-9): VGG8B 7 heads of Linear(A, 128) (the FC layer's reads its 1024 units):
918,400 at 28 px, 1,704,832 at 32 px (paper 1.84M counts a 2048-input FC head); ResNet-32
16 heads of Linear(C, 128) after a global pool = 75,776 (paper 73.6K: 15 heads, no stem head);
ViT / MLP-Mixer 6 x Linear(512, 128) = 393,984 (paper 394K).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config.options import Option
from ..config.rules import real
from ..losses.reconstruction import ImageDecoder
from ..losses.supcon import supcon_loss
from .base import METHODS
from .feat import SUPCON_OPTIONS
from .ll_aux import AUX_DIM, PROJ_DIM, aux_input, aux_input_width
from .local import LocalMethod


class LLCont(LocalMethod):
    """LL-cont: SupCon on a Linear(A', 128) projection of every block's pooled activation."""

    feature_tap = "act"
    options = (AUX_DIM, PROJ_DIM) + SUPCON_OPTIONS

    def build_aux(self) -> None:
        self.shapes = self.net.tap_shapes(self.feature_tap)
        self.aux = nn.Module()
        self.aux.heads = nn.ModuleList(nn.Linear(aux_input_width(s, self.cfg.aux_dim), self.cfg.proj_dim)
                                       for s in self.shapes)

    def block_params(self, i: int) -> list[nn.Parameter]:
        return list(self.aux.heads[i].parameters())

    def contrast_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        z = self.aux.heads[i](aux_input(h, self.cfg.aux_dim))
        return supcon_loss(z, y, self.cfg.contrast_temperature, self.cfg.supcon_average)

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        return self.contrast_loss(i, h, y)


class LLContRec(LLCont):
    """LL-contrec: L_contrast and InfoPro's image reconstruction, weighted by depth (App. J.2.4)."""

    options = LLCont.options + (Option("contrec_alpha", float, 1.0, real(0, None, lo_open=True),
                                       "alpha*beta_l L_contrast + alpha*(1-beta_l) L_rec, beta_l = l/(L-1)"),)

    def build_aux(self) -> None:
        super().build_aux()
        image_shape = tuple(self.net.in_shape)
        self.aux.decoders = nn.ModuleList(
            ImageDecoder(s, image_shape) if self.rec_weight(i) > 0 else nn.Identity()
            for i, s in enumerate(self.shapes))
        # (1, C, 1, 1) per-channel pixel statistics the loader normalised with
        self.pixel_mean = torch.tensor(self.data.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.pixel_std = torch.tensor(self.data.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._image: Tensor | None = None

    def contrast_weight(self, i: int) -> float:
        """lambda_1 = alpha * beta_l, beta_l = l / (L-1), for block ``i`` (0-based, l = i+1)."""
        return self.cfg.contrec_alpha * (i + 1) / len(self.net.blocks)

    def rec_weight(self, i: int) -> float:
        """lambda_2 = alpha * (1 - beta_l): 0 for the last block (it has no decoder)."""
        return self.cfg.contrec_alpha * (1.0 - (i + 1) / len(self.net.blocks))

    def block_params(self, i: int) -> list[nn.Parameter]:
        return super().block_params(i) + list(self.aux.decoders[i].parameters())

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        loss = self.contrast_weight(i) * self.contrast_loss(i, h, y)
        if self.rec_weight(i) > 0:
            loss = loss + self.rec_weight(i) * self.aux.decoders[i].loss(h, self._image)
        return loss

    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        # the reconstruction target: the input batch back in [0, 1] pixels (the loader normalised it)
        self._image = (x.detach().float() * self.pixel_std + self.pixel_mean).clamp_(0.0, 1.0)
        try:
            return super().update(x, y)
        finally:
            self._image = None


METHODS.register("ll-cont", LLCont, description="LL-cont: L_contrast (Eq. 1, SupCon tau 0.07) on a per-block "
                                                "Linear(A, 128) head over the pooled activation")
METHODS.register("ll-contrec", LLContRec, description="LL-contrec: L_contrast + InfoPro image reconstruction, "
                                                      "weights alpha*l/(L-1) and alpha*(1-l/(L-1))")
