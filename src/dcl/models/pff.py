"""The Predictive Forward-Forward network (Ororbia & Mali 2023; REFERENCE-FL.md §0, §3).

Notation: n units per layer (``width``, 2000), Z classes, ν(v) = v / (||v||_2 + 1e-8), φ = ReLU
whose backward passes the gradient straight through (identity), row vectors (``z @ W``).

Representation circuit (the blocks and the head of a :class:`PFFNet`):

    block 1  PFFLayer: W1 (x -> n) + b1, top-down V2 (z2 -> n), lateral L1 (n x n)
    block 2  PFFLayer: W2 (n -> n) + b2, label V (y_s -> n),    lateral L2 (n x n)
    head     PFFHead:  W (n -> Z) + b:  z3 = softmax(ν(z2) W + b)

One step t of the circuit (the method runs K of them per batch) reads the previous states z'::

    a1 = ν(x) W1 + ν(z2') V2 + b1 + ε - z1' Λ1;   z1 = (1 - leak) φ(a1) + leak z1'
    a2 = ν(z1') W2 + y_s V + b2 + ε - z2' Λ2;     z2 = (1 - leak) φ(a2) + leak z2'

with Λ = relu(L) ⊙ M ⊙ (1 - I) - relu(L) ⊙ I, M block-diagonal ones over groups of ``group``
units: lateral inhibition inside a group and self-excitation. Only the block-diagonal entries
of L ever act, so z' Λ is computed group by group (n x group per row instead of n x n); L is
kept whole, as the authors' model holds it (and counts it).

``forward(x)`` of a layer is the feed-forward pass that initialises the states:
z1 = φ(ν(x) W1 + b1), z2 = φ(ν(z1) W2 + b2). Block 1 first maps the loader's normalised input
back to pixels in [0, 1] (:class:`PixelRange`), as the authors' model reads them.

Generative circuit (``generator``, optional, ``pff_generative``): Gy (latent -> n), G2 (n -> n),
G1 (n -> in); no biases. It predicts z2 from a latent z_g, z1 from z2 and x from z1.

MNIST, n = 2000: representation 17,612,010 + generative 5,608,000 = 23,220,010 parameters
(the DCL paper prints 23.0M).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..data.datasets import DatasetSpec
from ..errors import DCLError
from ..config.options import Option
from ..config.rules import BIG, flag, integer
from .base import ARCHS, BlockSpec, LocalNet
from .layers import WIDTH


def unit_norm(v: Tensor, eps: float = 1e-8) -> Tensor:
    """ν(v) = v / (||v||_2 + eps) per row of ``v (B, n)``."""
    return v / (v.norm(dim=1, keepdim=True) + eps)


def relu_pass_through(a: Tensor) -> Tensor:
    """φ: ReLU forward, identity backward (the authors' straight-through ReLU)."""
    return a + (torch.relu(a) - a).detach()


class PixelRange(nn.Module):
    """``(B, C, H, W)`` normalised as ``(p - mean) / std`` -> the pixels ``p`` in [0, 1]."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean


class PFFLayer(nn.Module):
    """One layer of the representation circuit: bottom-up ``W (n_in, n)`` and ``b (n)``,
    top-down ``V (n_top, n)``, lateral ``L (n, n)``; ``inputs`` prepares the raw input of
    block 1 (pixels, flatten)."""

    def __init__(self, n_in: int, n: int, n_top: int, group: int, inputs: nn.Module | None = None):
        super().__init__()
        if n % group:
            raise DCLError(f"the PFF width {n} must be a multiple of the lateral group size pff_group={group}")
        self.group = group
        self.inputs = inputs if inputs is not None else nn.Flatten()
        self.W = nn.Parameter(torch.empty(n_in, n))
        self.b = nn.Parameter(torch.empty(n))
        self.V = nn.Parameter(torch.empty(n_top, n))
        self.L = nn.Parameter(torch.empty(n, n))
        for w in (self.W, self.V, self.b.view(1, -1)):
            nn.init.orthogonal_(w)
        nn.init.uniform_(self.L, 0.0, 0.05)

    def bottom_up(self, h: Tensor) -> Tensor:
        """ν(input) for this layer: ``(B, ...) -> (B, n_in)``."""
        return unit_norm(self.inputs(h).flatten(1))

    def forward(self, h: Tensor) -> Tensor:
        """The feed-forward pass: φ(ν(h) W + b), ``(B, ...) -> (B, n)``."""
        return torch.relu(self.bottom_up(h) @ self.W + self.b)

    def lateral(self, z: Tensor) -> Tensor:
        """z Λ for ``z (B, n)``, using only Λ's diagonal groups (the mask M)."""
        n, g = self.L.shape[0], self.group
        k = n // g
        blocks = self.L.view(k, g, k, g).diagonal(dim1=0, dim2=2).permute(2, 0, 1)  # (k, g, g)
        eye = torch.eye(g, device=z.device, dtype=blocks.dtype)
        lam = torch.relu(blocks) * (1 - 2 * eye)  # inhibition off the diagonal, self-excitation on it
        return torch.einsum("bki,kij->bkj", z.view(-1, k, g), lam).reshape(z.shape)

    def pre_activation(self, bottom: Tensor | None, top: Tensor, z_prev: Tensor, noise: Tensor | None = None,
                       drive: Tensor | None = None) -> Tensor:
        """a = bottom W + top V + b [+ noise] - z' Λ; ``bottom`` and ``top`` already normalised;
        ``drive``: ``bottom @ W`` when it is already known (then ``bottom`` is not read)."""
        a = (bottom @ self.W if drive is None else drive) + top @ self.V + self.b - self.lateral(z_prev)
        return a if noise is None else a + noise

    def extra_repr(self) -> str:
        return f"{self.W.shape[0]}->{self.W.shape[1]}, top {self.V.shape[0]}, lateral groups of {self.group}"


class PFFHead(nn.Module):
    """z3 logits = ν(z2) W + b, ``(B, n) -> (B, Z)``; W orthogonal, b = 0."""

    def __init__(self, n: int, num_classes: int):
        super().__init__()
        self.W = nn.Parameter(nn.init.orthogonal_(torch.empty(n, num_classes)))
        self.b = nn.Parameter(torch.zeros(num_classes))

    def forward(self, z2: Tensor) -> Tensor:
        return unit_norm(z2) @ self.W + self.b

    def extra_repr(self) -> str:
        return f"{self.W.shape[0]}->{self.W.shape[1]}"


class PFFGenerator(nn.Module):
    """The generative circuit: ``Gy (latent, n)``, ``G2 (n, n)``, ``G1 (n, n_in)``, uniform [0, 0.05].

    ẑ2 = φ(ν(φ(z_g)) Gy);  ẑ1 = φ(ν(φ(z2 + ε')) G2);  ẑ0 = clip[0,1](ν(φ(z1 + ε')) G1)
    """

    def __init__(self, latent: int, n: int, n_in: int):
        super().__init__()
        self.Gy = nn.Parameter(torch.empty(latent, n))
        self.G2 = nn.Parameter(torch.empty(n, n))
        self.G1 = nn.Parameter(torch.empty(n, n_in))
        for w in (self.Gy, self.G2, self.G1):
            nn.init.uniform_(w, 0.0, 0.05)

    def predict_z2(self, z_g: Tensor) -> Tensor:
        return relu_pass_through(unit_norm(relu_pass_through(z_g)) @ self.Gy)

    def predict_z1(self, z2: Tensor) -> Tensor:
        return relu_pass_through(unit_norm(relu_pass_through(z2)) @ self.G2)

    def predict_x(self, z1: Tensor) -> Tensor:
        return torch.clamp(unit_norm(relu_pass_through(z1)) @ self.G1, 0.0, 1.0)

    def extra_repr(self) -> str:
        return f"latent {self.Gy.shape[0]} -> {self.Gy.shape[1]} -> {self.G2.shape[1]} -> {self.G1.shape[1]}"


class PFFNet(LocalNet):
    """The representation circuit as blocks + head, and the generative circuit (or None)."""

    def __init__(self, blocks, head, specs, *, generator: PFFGenerator | None, **kw):
        super().__init__(blocks, head, specs, **kw)
        self.generator = generator

    def pixels(self, x: Tensor) -> Tensor:
        """The input as the circuit sees it: pixels in [0, 1], flattened, ``(B, in)``."""
        return self.blocks[0].inputs(x).flatten(1)


PFF_GROUP = Option("pff_group", int, 10, integer(1, BIG), "PFF: lateral competition within groups of this many units")
PFF_GENERATIVE = Option("pff_generative", bool, True, flag,
                        "PFF: build and train the generative circuit (does not affect classification)")
PFF_LATENT = Option("pff_latent", int, 20, integer(1, BIG), "PFF generative circuit: latent z_g size")


@ARCHS.register("pff", description="PFF's circuit: 2 recurrent layers of width D with lateral competition, "
                                   "a softmax head and the generative circuit (Ororbia & Mali 2023)",
                options=(WIDTH, PFF_GROUP, PFF_GENERATIVE, PFF_LATENT))
def build_pff(cfg, spec: DatasetSpec) -> PFFNet:
    in_shape, num_classes = tuple(spec.in_shape), spec.num_classes
    n, n_in = cfg.width, math.prod(in_shape)
    pixels = nn.Sequential(PixelRange(spec.mean, spec.std), nn.Flatten())
    blocks = [PFFLayer(n_in, n, n, cfg.pff_group, inputs=pixels), PFFLayer(n, n, num_classes, cfg.pff_group)]
    head = PFFHead(n, num_classes)
    generator = PFFGenerator(cfg.pff_latent, n, n_in) if cfg.pff_generative else None
    specs = [BlockSpec(n, "flat", 1), BlockSpec(n, "flat", 1)]
    return PFFNet(blocks, head, specs, generator=generator, num_classes=num_classes, in_shape=in_shape, name="pff")
