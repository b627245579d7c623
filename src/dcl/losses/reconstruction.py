"""Image reconstruction from a block's features (InfoPro's decoder; LL-contrec, App. J.2.4;
REFERENCE-LL §7). L_rec is the binary cross-entropy between the decoded image and the input
image with its pixels in [0, 1] (un-normalised).

Decoders by the tensor they read:

* conv maps ``(B, C, H, W)`` (InfoPro): bilinear upsampling to the image size
  (``align_corners=True``) -> Conv3x3(C, 12) -> BN(12) -> ReLU -> Conv3x3(12, c_img) -> sigmoid;
  108C + 363 parameters for RGB, 108C + 145 for grey images;
* token tensors ``(B, P, C)`` whose P (or P-1, after a class token) patch tokens form a square
  grid: the tokens as a ``(B, C, g, g)`` map, then the conv decoder above;
* flat vectors ``(B, F)`` (and tokens that form no grid, averaged): Linear(F, c_img*H*W) -> sigmoid.
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

DECODER_HIDDEN = 12


def token_grid(tokens: int) -> tuple[int, int] | None:
    """``(skip, side)`` when ``tokens`` (minus ``skip`` leading class tokens) form a square grid."""
    for skip in (0, 1):
        side = math.isqrt(tokens - skip)
        if tokens - skip > 0 and side * side == tokens - skip:
            return skip, side
    return None


class ImageDecoder(nn.Module):
    """Decodes a block's tensor of shape ``feature_shape`` (no batch dim) to an image of
    ``image_shape (c_img, H, W)``; ``forward`` returns the pre-sigmoid logits ``(B, c_img, H, W)``
    (:meth:`loss` applies the BCE on them, numerically stable)."""

    def __init__(self, feature_shape: tuple[int, ...], image_shape: tuple[int, int, int]):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c_img, h, w = self.image_shape
        self.grid = token_grid(feature_shape[0]) if len(feature_shape) == 2 else None
        if len(feature_shape) == 3 or self.grid is not None:
            c = feature_shape[0] if len(feature_shape) == 3 else feature_shape[1]
            self.net: nn.Module = nn.Sequential(
                nn.Conv2d(c, DECODER_HIDDEN, 3, 1, 1), nn.BatchNorm2d(DECODER_HIDDEN), nn.ReLU(),
                nn.Conv2d(DECODER_HIDDEN, c_img, 3, 1, 1))
            self.kind = "map"
        else:
            width = feature_shape[-1]
            self.net = nn.Linear(width, c_img * h * w)
            self.kind = "flat"

    def forward(self, feature: Tensor) -> Tensor:
        c_img, h, w = self.image_shape
        if self.kind == "flat":
            x = feature.mean(dim=1) if feature.dim() == 3 else feature.flatten(1)
            return self.net(x).view(-1, c_img, h, w)
        if feature.dim() == 3:  # (B, P, C) tokens -> (B, C, g, g)
            skip, side = self.grid
            feature = feature[:, skip:].transpose(1, 2).reshape(feature.shape[0], -1, side, side)
        up = F.interpolate(feature, size=(h, w), mode="bilinear", align_corners=True)
        return self.net(up)

    def loss(self, feature: Tensor, image: Tensor) -> Tensor:
        """L_rec: BCE between sigmoid(decoded) and ``image (B, c_img, H, W)`` in [0, 1]."""
        return F.binary_cross_entropy_with_logits(self(feature), image)

    def extra_repr(self) -> str:
        return f"{self.kind} -> {'x'.join(map(str, self.image_shape))}"
