"""Any PyTorch network made local: cut a user's ``nn.Module`` into blocks + head (a LocalNet).

Two ways to say where the cuts go:

    net = make_local(seq, split_after=[2, 5], in_shape=(1, 28, 28))
        # nn.Sequential: block 1 = seq[0:3], block 2 = seq[3:6], head = seq[6:]

    net = make_local(model, blocks=[["conv1", "bn1", "relu"], "layer1", "layer2"],
                     head=["avgpool", nn.Flatten(), "fc"], in_shape=(3, 32, 32))
        # named submodules (dotted paths); a list makes one block of several parts run in
        # order; a part may also be any nn.Module (e.g. nn.Flatten() where forward() calls
        # torch.flatten)

A dummy batch of ``in_shape`` is run through the parts once (eval mode, no gradients; the
model's train/eval flags are restored) to find every block's output shape and the number of
classes. Each block's :class:`BlockSpec` follows from its output:

* ``(B, C, H, W)`` -> ``"map"``, C = channels, K = H*W
* ``(B, P, C)``    -> ``"tokens"`` (channels last), K = P; pass ``"cls"`` to read token 0 only
* ``(B, F)``       -> ``"flat"`` with K = ``segments`` (default 1) pieces of C = F/K

``layouts`` and ``segments`` override this per block (a list with one entry per block, ``None``
for "infer", or a dict ``{block index: value}``).

The LocalNet *shares* the model's modules and parameters: training it trains ``model``. Every
parameter must belong to exactly one block or the head (a parameter used by two blocks would
let gradient cross a block boundary); with ``strict=True`` every parameter of ``model`` must
also be used by some part.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

import torch
from torch import nn

from ..checks import as_int, is_integer
from ..errors import DCLError
from .base import LAYOUTS, BlockSpec, LocalNet

Part = Union[str, nn.Module, Sequence[Union[str, nn.Module]]]


def make_local(model: nn.Module, split_after: Sequence[int] | None = None, *,
               blocks: Sequence[Part] | None = None, head: Part | None = None,
               in_shape: Sequence[int], num_classes: int | None = None,
               layouts: Sequence[str | None] | Mapping[int, str] | None = None,
               segments: Sequence[int | None] | Mapping[int, int] | None = None,
               name: str = "custom", strict: bool = True) -> LocalNet:
    """Turn ``model`` into a :class:`LocalNet` whose blocks each train with their own local loss.

    Args:
        model: the network. With ``split_after`` it must be an ``nn.Sequential``.
        split_after: indices ``i < j < ...`` of ``model``; a block ends after each. The modules
            after the last index form the head.
        blocks, head: instead of ``split_after``: the blocks and the head as submodule names
            (dotted paths into ``model``), modules, or lists of those (run in order).
        in_shape: one input without the batch dimension, e.g. ``(3, 32, 32)``.
        num_classes: Z; inferred from the head's output ``(B, Z)`` when omitted.
        layouts, segments: per-block overrides of the inferred layout / K (see module doc).
        name: the network's name (shown in summaries and saved as ``cfg.arch``).
        strict: require every parameter of ``model`` to be in some block or the head.

    Returns:
        a LocalNet for any method of :data:`dcl.methods.METHODS` (``dcl.train(cfg, net=...)``
        or ``dcl.methods.build_method(net, cfg)``).
    """
    if not isinstance(model, nn.Module):
        raise DCLError(f"make_local needs an nn.Module, got {type(model).__name__}")
    in_shape = _check_shape(in_shape)
    if split_after is not None:
        if blocks is not None or head is not None:
            raise DCLError("give either split_after (for an nn.Sequential) or blocks= and head=, not both")
        block_mods, head_mod = _split_sequential(model, split_after)
    else:
        if blocks is None or head is None:
            raise DCLError("make_local needs split_after=[...] (nn.Sequential) or both blocks=[...] and head=...")
        if isinstance(blocks, (str, nn.Module)) or len(blocks) == 0:
            raise DCLError("blocks must be a non-empty list (one entry per block)")
        block_mods = [_resolve(model, b, f"block {i + 1}") for i, b in enumerate(blocks)]
        head_mod = _resolve(model, head, "head")
    _check_ownership(model, block_mods, head_mod, strict)
    shapes, out_shape = trace_shapes(block_mods, head_mod, in_shape, model)
    if len(out_shape) != 1:
        raise DCLError(f"the head must output logits (B, Z); it outputs (B, {', '.join(map(str, out_shape))})")
    if num_classes is None:
        num_classes = out_shape[0]
    elif as_int(num_classes, "num_classes") != out_shape[0]:
        raise DCLError(f"num_classes={num_classes} but the head outputs {out_shape[0]} logits")
    if num_classes < 2:
        raise DCLError(f"the head must output Z >= 2 class logits, got {num_classes}")
    lay = _per_block(layouts, len(block_mods), "layouts")
    seg = _per_block(segments, len(block_mods), "segments")
    specs = [infer_spec(s, lay[i], seg[i], i) for i, s in enumerate(shapes)]
    return LocalNet(block_mods, head_mod, specs, num_classes=num_classes, in_shape=in_shape, name=name)


def infer_spec(shape: Sequence[int], layout: str | None = None, segments: int | None = None,
               index: int = 0) -> BlockSpec:
    """The BlockSpec of a block whose output (without batch dim) is ``shape``; see the module doc."""
    shape = tuple(shape)
    default = {3: "map", 2: "tokens", 1: "flat"}.get(len(shape))
    layout = layout or default
    where = f"block {index + 1} (output (B, {', '.join(map(str, shape))}))"
    if layout is None:
        raise DCLError(f"{where}: a local loss reads (B, C, H, W), (B, P, C) or (B, F) outputs")
    if layout not in LAYOUTS:
        raise DCLError(f"{where}: unknown layout {layout!r}; valid choices: {', '.join(LAYOUTS)}")
    needs = {"map": 3, "tokens": 2, "cls": 2, "flat": 1}[layout]
    if len(shape) != needs:
        raise DCLError(f"{where}: layout {layout!r} needs a {needs + 1}-D output")
    if segments is not None and layout != "flat":
        raise DCLError(f"{where}: segments only apply to flat (B, F) outputs, not layout {layout!r}")
    if layout == "flat":
        k = 1 if segments is None else as_int(segments, f"{where}: segments")
        if k < 1 or shape[0] % k:
            raise DCLError(f"{where}: segments K={segments} must be a positive divisor of F={shape[0]}")
        return BlockSpec(shape[0] // k, "flat", k)
    if layout == "map":
        return BlockSpec(shape[0], "map")
    return BlockSpec(shape[1], layout)


# --- helpers ------------------------------------------------------------------------------
def _check_shape(in_shape: Sequence[int]) -> tuple[int, ...]:
    if isinstance(in_shape, (str, bytes)) or not hasattr(in_shape, "__iter__") or \
            not all(is_integer(s) for s in in_shape):
        raise DCLError(f"in_shape must be a sequence of positive ints such as (3, 32, 32), got {in_shape!r}")
    shape = tuple(int(s) for s in in_shape)
    if not shape or any(s < 1 for s in shape):
        raise DCLError(f"in_shape must be a sequence of positive ints such as (3, 32, 32), got {in_shape!r}")
    return shape


def _split_sequential(model: nn.Module, split_after: Sequence[int]) -> tuple[list[nn.Module], nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise DCLError(f"split_after needs an nn.Sequential, got {type(model).__name__}; "
                       f"name the submodules instead: make_local(model, blocks=[...], head=...)")
    n = len(model)
    if isinstance(split_after, (str, bytes)) or not hasattr(split_after, "__iter__") or \
            not all(is_integer(i) for i in split_after):
        raise DCLError(f"split_after must be a list of module indices (integers), got {split_after!r}")
    cuts = [int(i) + n if int(i) < 0 else int(i) for i in split_after]
    if not cuts:
        raise DCLError("split_after must name at least one index (one block)")
    if any(b <= a for a, b in zip(cuts, cuts[1:])) or cuts[0] < 0 or cuts[-1] > n - 2:
        raise DCLError(f"split_after must be increasing indices in [0, {n - 2}] (the head needs at least "
                       f"the last module), got {list(split_after)}")
    starts = [0] + [c + 1 for c in cuts]
    blocks = [model[a:b + 1] for a, b in zip(starts, cuts)]
    return blocks, model[cuts[-1] + 1:]


def _resolve(model: nn.Module, part: Part, what: str) -> nn.Module:
    if isinstance(part, nn.Module):
        return part
    if isinstance(part, str):
        try:
            return model.get_submodule(part)
        except AttributeError:
            names = [n for n, _ in model.named_children()]
            raise DCLError(f"{what}: model has no submodule {part!r}; its children are: {', '.join(names)}") from None
    if isinstance(part, (list, tuple)) and part:
        return nn.Sequential(*[_resolve(model, p, what) for p in part])
    raise DCLError(f"{what}: expected a submodule name, an nn.Module or a non-empty list of those, got {part!r}")


def _check_ownership(model: nn.Module, blocks: list[nn.Module], head: nn.Module, strict: bool) -> None:
    owner: dict[int, str] = {}
    parts = [(f"block {i + 1}", b) for i, b in enumerate(blocks)] + [("head", head)]
    for label, part in parts:
        for p in part.parameters():
            prev = owner.setdefault(id(p), label)
            if prev != label:
                raise DCLError(f"a parameter of shape {tuple(p.shape)} is in both {prev} and {label}: "
                               f"each parameter must belong to one block (or the head)")
    if strict:
        unused = [n for n, p in model.named_parameters() if id(p) not in owner]
        if unused:
            more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
            raise DCLError(f"parameters of the model are in no block nor the head: {', '.join(unused[:5])}{more}; "
                           f"add them to a part, or pass strict=False to leave them out")


def _per_block(values: Sequence[Any] | Mapping[int, Any] | None, n: int, what: str) -> list[Any]:
    if values is None:
        return [None] * n
    if isinstance(values, Mapping):
        bad = [k for k in values if not isinstance(k, int) or not 0 <= k < n]
        if bad:
            raise DCLError(f"{what}: block indices must be in [0, {n - 1}], got {bad}")
        return [values.get(i) for i in range(n)]
    if isinstance(values, str) or len(values) != n:
        raise DCLError(f"{what}: give one entry per block ({n}) or a dict {{block index: value}}, got {values!r}")
    return list(values)


def trace_shapes(blocks: Sequence[nn.Module], head: nn.Module, in_shape: Sequence[int],
                 model: nn.Module | None = None) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """Run a dummy batch of 2 through ``blocks`` then ``head`` in eval mode without gradients.

    Returns each block's output shape and the head's, without the batch dimension. The
    train/eval flags of every module (and of ``model``) are restored afterwards; a part that
    fails raises DCLError naming it.
    """
    in_shape = tuple(in_shape)
    mods = ([model] if model is not None else []) + [*blocks, head]
    flags = [(m, m.training) for mod in mods for m in mod.modules()]
    p = next((q for mod in mods for q in mod.parameters()), None)
    x = torch.randn(2, *in_shape, generator=torch.Generator().manual_seed(0))
    if p is not None:
        x = x.to(device=p.device, dtype=p.dtype if p.is_floating_point() else x.dtype)
    shapes = []
    try:
        for m in mods:
            m.eval()
        with torch.no_grad():
            h = x
            parts = [(f"block {i + 1}", b) for i, b in enumerate(blocks)] + [("head", head)]
            for what, part in parts:
                try:
                    h = part(h)
                except Exception as e:  # a wrong in_shape or a cut in the wrong place
                    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    raise DCLError(f"{what} failed on an input of shape (B, {', '.join(map(str, h.shape[1:]))}) "
                                   f"(in_shape={in_shape}): {first}") from None
                if not isinstance(h, torch.Tensor):
                    raise DCLError(f"{what} must return one tensor, got {type(h).__name__}")
                shapes.append(tuple(h.shape[1:]))
    finally:
        for m, flag in flags:
            m.training = flag
    return shapes[:-1], shapes[-1]
