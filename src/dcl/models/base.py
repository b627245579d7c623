"""A network as an ordered list of blocks plus a classifier head (f_1 .. f_{L-1}, f_L).

Every block's output is a local feature tensor that a local loss can read. :class:`BlockSpec`
says how: its ``layout`` tells the dictionary loss how to see K vectors of C dims in it.

* ``"map"``:    conv maps ``(B, C, H, W)``, K = H*W
* ``"flat"``:   flat vectors ``(B, K*C)``, cut into ``segments`` contiguous pieces
* ``"tokens"``: token tensors ``(B, P, C)`` (channels last, as transformers keep them), K = P
* ``"cls"``:    token tensors ``(B, P, C)`` where only token 0 (the class token) is read, K = 1

Architecture builders are registered in :data:`ARCHS` with the signature
``build(cfg, in_shape, num_classes) -> LocalNet``.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..registry import Registry

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
    ``features(i, h)`` converts block ``i``'s output to the form the dictionary loss reads:
    ``(B, C, H, W)``, ``(B, C, P)`` or ``(B, F)`` (with ``specs[i].segments``).
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

    def features(self, i: int, h: Tensor) -> Tensor:
        layout = self.specs[i].layout
        if layout == "tokens":
            return h.transpose(1, 2)  # (B, P, C) -> (B, C, P)
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
