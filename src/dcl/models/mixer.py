"""MLP-Mixer (Tolstikhin et al., 2021) trained module-wise (App. J.2.3).

    module 1:    patch embedding (4x4 patches -> 512-d tokens), then mixer block 1
                                                                  (B, C, H, W) -> (B, P, 512)
    modules 2-6: mixer blocks 2..6                                (B, P, 512) -> (B, P, 512)
    head:        LayerNorm -> mean over the P tokens -> Linear(512, Z)

    mixer block: x = x + TokenMLP(LN(x)^T)^T        (mixes the P tokens, per channel)
                 x = x + ChannelMLP(LN(x))          (mixes the 512 channels, per token)
    TokenMLP:   Linear(P, 256) -> GELU -> Linear(256, P)
    ChannelMLP: Linear(512, 2048) -> GELU -> Linear(2048, 512)

The hidden sizes are Mixer-S's (D_S = 256, D_C = 2048 for C = 512; Tolstikhin et al. Table 1);
the DCL paper gives only the token count and width (64 tokens of 512 dims on 32 px). There is
no position embedding (token mixing sees positions). Every module's output ``(B, P, 512)``
is read by the local loss as P = 64 feature vectors (layout ``"tokens"``); C_D = 512, so
DCL's Δθ on CIFAR-10 is 10x512 = 5,120 (Table V). ``cfg.dropout`` drops MLP outputs (0 in the
preset). Linear weights are truncated-normal (std 0.02) with zero biases.

Parameters on CIFAR-10 under BP: 12,840,330.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from .base import ARCHS, BlockSpec, LocalNet
from .layers import lean_dropouts_
from .vit import MLP, PatchEmbed, init_linear_, num_patches

MIXER_DIM, MIXER_DEPTH, MIXER_PATCH, MIXER_TOKEN_HIDDEN, MIXER_CHANNEL_HIDDEN = 512, 6, 4, 256, 2048


class MixerBlock(nn.Module):
    """Token mixing then channel mixing, each pre-norm and residual: ``(B, P, D) -> (B, P, D)``."""

    def __init__(self, tokens: int, dim: int, token_hidden: int, channel_hidden: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = MLP(tokens, token_hidden, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = MLP(dim, channel_hidden, dropout)
        self.sizes = (tokens, dim, token_hidden, channel_hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))

    def extra_repr(self) -> str:
        return "tokens={}, dim={}, token_mlp={}, channel_mlp={}".format(*self.sizes)


class TokenMean(nn.Module):
    """``(B, P, D) -> (B, D)``: the mean over tokens (global average pooling)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=1)


def mlp_mixer(in_shape: tuple[int, int, int], num_classes: int, *, dim: int = MIXER_DIM, depth: int = MIXER_DEPTH,
              patch: int = MIXER_PATCH, token_hidden: int = MIXER_TOKEN_HIDDEN,
              channel_hidden: int = MIXER_CHANNEL_HIDDEN, dropout: float = 0.0) -> LocalNet:
    """An MLP-Mixer with ``depth`` mixer modules, each a local block read over its P tokens."""
    if depth < 1:
        raise DCLError(f"mlp-mixer depth must be >= 1, got {depth}")
    p = num_patches(in_shape, patch)
    blocks: list[nn.Module] = []
    for i in range(depth):
        mix = MixerBlock(p, dim, token_hidden, channel_hidden, dropout)
        blocks.append(nn.Sequential(PatchEmbed(in_shape[0], dim, patch), mix) if i == 0 else mix)
    head = nn.Sequential(nn.LayerNorm(dim), TokenMean(), nn.Linear(dim, num_classes))
    net = LocalNet(blocks, head, [BlockSpec(dim, "tokens")] * depth, num_classes=num_classes,
                   in_shape=in_shape, name="mlp-mixer")
    init_linear_(net)
    return net


@ARCHS.register("mlp-mixer", description="MLP-Mixer: 4x4 patches, 64 tokens x 512 dims on 32 px, 6 mixer "
                                         "modules (token MLP 256, channel MLP 2048), loss over tokens (App. J.2.3)")
def build_mlp_mixer(cfg, spec: DatasetSpec) -> LocalNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    net = mlp_mixer(in_shape, num_classes, dropout=cfg.dropout)
    return lean_dropouts_(net) if cfg.lean_layers else net
