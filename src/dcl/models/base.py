"""A network as an ordered list of blocks plus a classifier head (f_1 .. f_{L-1}, f_L).

Every block's output is a local feature tensor that a local loss can read. :class:`BlockSpec`
says how: its ``layout`` tells the dictionary loss how to see K vectors of C dims in it.

* ``"map"``:    conv maps ``(B, C, H, W)``, K = H*W
* ``"flat"``:   flat vectors ``(B, K*C)``, cut into ``segments`` contiguous pieces
* ``"tokens"``: token tensors ``(B, P, C)`` (channels last, as transformers keep them), K = P
* ``"cls"``:    token tensors ``(B, P, C)`` where only token 0 (the class token) is read, K = 1

A block may contain named read-out points (:class:`~dcl.models.layers.Tap`): ``"act"`` marks
the activation before pooling and dropout (where Nøkland & Eidnes take their local losses).
:meth:`LocalNet.block_forward` returns a block's output together with the tensor at a tap.

Architecture builders are registered in :data:`ARCHS` with the signature
``build(cfg, spec) -> LocalNet``; ``spec`` is the data's :class:`~dcl.data.DatasetSpec`
(``in_shape`` (C, H, W), ``num_classes``, per-channel ``mean`` / ``std``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..registry import Registry
from .layers import Tap

LAYOUTS = ("map", "flat", "tokens", "cls")


@dataclass(frozen=True)
class BlockSpec:
    """How a block's output is read by a local loss.

    width: C, the dims of each feature vector (for ``flat``: the segment width F/K).
    layout: one of :data:`LAYOUTS`.
    segments: K for ``flat`` outputs, else None.
    """

    width: int
    layout: str = "map"
    segments: int | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; valid: {LAYOUTS}")


class LocalNet(nn.Module):
    """Blocks f_1..f_{L-1} plus head f_L.

    ``forward(x)`` runs the whole network end to end (used by BP and for inference).
    ``features(i, h)`` converts block ``i``'s output to a form the dictionary loss reads without
    a layout argument: ``(B, C, H, W)`` or ``(B, F)`` (with ``specs[i].segments``); tokens
    ``(B, P, C)`` become the map ``(B, C, P, 1)`` (the same K = P vectors), the class token ``(B, C)``.
    """

    def __init__(self, blocks: list[nn.Module], head: nn.Module, specs: list[BlockSpec], *,
                 num_classes: int, in_shape: tuple[int, ...], name: str = ""):
        super().__init__()
        if len(blocks) != len(specs):
            raise ValueError("one BlockSpec per block is required")
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.specs = list(specs)
        self.num_classes = int(num_classes)
        self.in_shape = tuple(in_shape)
        self.name = name

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def has_tap(self, i: int, tap: str) -> bool:
        """Does block ``i`` hold a :class:`Tap` named ``tap`` among its direct children?"""
        block = self.blocks[i]
        return isinstance(block, nn.Sequential) and any(isinstance(m, Tap) and m.name == tap for m in block)

    def block_forward(self, i: int, h: Tensor, tap: str | None = None) -> tuple[Tensor, Tensor]:
        """Run block ``i`` on ``h``; return ``(output, feature)``.

        ``feature`` is the tensor at the block's :class:`Tap` named ``tap`` (same pass, same
        graph: a loss on it trains the layers before the tap), or the output itself when
        ``tap`` is None or the block has no such tap (e.g. ResNet, ViT and user blocks).
        For VGG8B block 2 at 32 px with ``tap="act"``: output ``(B, 256, 16, 16)``, feature
        ``(B, 256, 32, 32)``.
        """
        block = self.blocks[i]
        if tap is None or not self.has_tap(i, tap):
            out = block(h)
            return out, out
        if hasattr(block, "forward_tap"):  # LeanSequential: runs its fused pairs (models/fused.py)
            return block.forward_tap(h, tap)
        feature = None
        for m in block:
            h = m(h)
            if isinstance(m, Tap) and m.name == tap:
                feature = h
        return h, feature

    @torch.no_grad()
    def tap_shapes(self, tap: str | None) -> list[tuple[int, ...]]:
        """Shape (without batch) of every block's tensor at ``tap`` (its output where it has no
        such tap), from one dummy batch of 2 zeros in eval mode; train flags and the global RNG
        are left as they were. What a method sizes its per-block modules from."""
        flags = [(m, m.training) for m in self.modules()]
        p = next(self.parameters(), None)
        h = torch.zeros(2, *self.in_shape, device=p.device if p is not None else "cpu")
        shapes = []
        try:
            self.eval()
            with torch.random.fork_rng(devices=[]):
                for i in range(len(self.blocks)):
                    h, feature = self.block_forward(i, h, tap)
                    shapes.append(tuple(feature.shape[1:]))
        finally:
            for m, flag in flags:
                m.training = flag
        return shapes

    def features(self, i: int, h: Tensor) -> Tensor:
        layout = self.specs[i].layout
        if layout == "tokens":
            return h.transpose(1, 2).unsqueeze(3)  # (B, P, C) -> (B, C, P, 1): K = P vectors of C dims
        if layout == "cls":
            return h[:, 0]  # (B, C)
        return h

    def segments(self, i: int) -> int | None:
        return self.specs[i].segments

    @property
    def max_width(self) -> int:
        """C_D in the paper: max over blocks of C_h^l."""
        return max(s.width for s in self.specs)


ARCHS: Registry = Registry("architecture")


def count_params(module: nn.Module) -> int:
    """Trainable parameters (buffers such as a static dictionary are not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
