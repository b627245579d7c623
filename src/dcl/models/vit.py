"""A small vision transformer (Dosovitskiy et al., 2020) trained module-wise (App. J.2.3).

    module 1:   patch embedding (4x4 patches -> 512-d tokens) + class token + learned position
                embedding, then encoder block 1                       (B, C, H, W) -> (B, 1+P, 512)
    modules 2-6: encoder blocks 2..6                                  (B, 1+P, 512) -> (B, 1+P, 512)
    head:       LayerNorm -> Linear(512, Z) on the class token        (B, 1+P, 512) -> (B, Z)

    encoder block (pre-norm): x = x + MHSA(LN(x)); x = x + MLP(LN(x))
    MHSA: 8 heads, Linear(512, 3*512) for q, k, v and Linear(512, 512) out (the paper's "two FC
          layers"); MLP: Linear(512, 2048) -> GELU -> Linear(2048, 512), i.e. mlp ratio 4 (the
          ViT default; the paper does not state it).

P = (H/4)*(W/4) = 64 tokens on 32 px inputs. Every module's output is a token tensor
``(B, 1+P, 512)``; its local loss reads only the class token (layout ``"cls"``, K = 1), as
the paper does ("we optimize the similarity between label embedding vectors t_z and the class
token vector"). C_D = 512, so DCL's Δθ on CIFAR-10 is 10x512 = 5,120 (Table V).
``cfg.dropout`` drops attention weights and MLP / projection outputs (0 in the preset).
Linear weights are truncated-normal (std 0.02) with zero biases; class token and position
embedding truncated-normal (std 0.02).

Parameters on CIFAR-10 under BP: 18,979,338.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet
from .layers import lean_dropouts_

VIT_DIM, VIT_DEPTH, VIT_HEADS, VIT_PATCH, VIT_MLP_RATIO = 512, 6, 8, 4, 4


def num_patches(in_shape: tuple[int, int, int], patch: int) -> int:
    """P for inputs ``(C, H, W)`` cut into ``patch x patch`` patches (H, W must be multiples)."""
    _, h, w = in_shape
    if patch < 1 or h % patch or w % patch:
        raise DCLError(f"image size {h}x{w} is not a multiple of the patch size {patch}")
    return (h // patch) * (w // patch)


class PatchEmbed(nn.Module):
    """``(B, C, H, W) -> (B, P, D)``: non-overlapping ``p x p`` patches, each linearly projected."""

    def __init__(self, c_in: int, dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(c_in, dim, patch, patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"{self.proj.in_channels}->{self.proj.out_channels}, patch={self.proj.kernel_size[0]}"


class ViTEmbedding(nn.Module):
    """``(B, C, H, W) -> (B, 1+P, D)``: patch tokens, a class token in front, plus learned positions."""

    def __init__(self, c_in: int, dim: int, patch: int, patches: int):
        super().__init__()
        self.patches = PatchEmbed(c_in, dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + patches, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.patch, self.dim, self.num_patches = patch, dim, patches

    def forward(self, x: Tensor) -> Tensor:
        t = self.patches(x)
        cls = self.cls_token.expand(t.shape[0], -1, -1)
        return torch.cat([cls, t], dim=1) + self.pos_embed

    def extra_repr(self) -> str:
        return f"patch={self.patch}, dim={self.dim}, tokens=1+{self.num_patches}"


class MLP(nn.Module):
    """``(..., D) -> (..., D)``: Linear(D, hidden) -> GELU -> Dropout -> Linear(hidden, D) -> Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class SelfAttention(nn.Module):
    """Multi-head self-attention ``(B, N, D) -> (B, N, D)`` (scaled dot product, ``heads`` heads)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise DCLError(f"token width {dim} must be a multiple of the number of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))


class EncoderBlock(nn.Module):
    """Pre-norm transformer encoder block ``(B, N, D) -> (B, N, D)``."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_hidden, dropout)
        self.dim, self.heads, self.mlp_hidden = dim, heads, mlp_hidden

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, mlp={self.mlp_hidden}"


class SelectToken(nn.Module):
    """``(B, N, D) -> (B, D)``: token ``index`` (0: the class token)."""

    def __init__(self, index: int = 0):
        super().__init__()
        self.index = index

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.index]

    def extra_repr(self) -> str:
        return f"index={self.index}"


def init_linear_(module: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal Linear weights (std ``std``) and zero biases, for every Linear in ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def vit(in_shape: tuple[int, int, int], num_classes: int, *, dim: int = VIT_DIM, depth: int = VIT_DEPTH,
        heads: int = VIT_HEADS, patch: int = VIT_PATCH, mlp_ratio: float = VIT_MLP_RATIO,
        dropout: float = 0.0) -> LocalNet:
    """A ViT with ``depth`` encoder modules, each a local block read on its class token."""
    if depth < 1:
        raise DCLError(f"vit depth must be >= 1, got {depth}")
    p = num_patches(in_shape, patch)
    hidden = int(round(dim * mlp_ratio))
    blocks: list[nn.Module] = []
    for i in range(depth):
        enc = EncoderBlock(dim, heads, hidden, dropout)
        blocks.append(nn.Sequential(ViTEmbedding(in_shape[0], dim, patch, p), enc) if i == 0 else enc)
    head = nn.Sequential(SelectToken(0), nn.LayerNorm(dim), nn.Linear(dim, num_classes))
    net = LocalNet(blocks, head, [BlockSpec(dim, "cls")] * depth, num_classes=num_classes, in_shape=in_shape,
                   name="vit")
    init_linear_(net)
    return net


@ARCHS.register("vit", description="ViT: 4x4 patches, 512-d tokens + class token, 6 pre-norm encoder modules "
                                   "(8 heads, mlp x4), loss on the class token (App. J.2.3)")
def build_vit(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    net = vit(in_shape, num_classes, dropout=cfg.dropout)
    return lean_dropouts_(net) if cfg.lean_layers else net
