"""Dictionary Contrastive Learning: every block learns from L_dict (Eq. 2) against label embeddings.

Variants (registered in :data:`METHODS`; ``dcl list methods``):

* ``dcl``    adaptive dictionary D^Z (Z x C_D, N(0,1) init), a parameter in every block's
             optimizer, so it takes L-1 sequential updates per batch (block l+1 sees the
             dictionary that block l just updated), as the authors run it (§4.2).
* ``dcl-s``  static dictionary (t = sg[t]): a buffer, never updated (the FL setting). With
             ``dict_init=orthogonal`` it is D^⊥ (Fig. 4); ``dict_norm`` / ``dict_norm_from``
             rescale its rows (Fig. 4 scales D^N and D^⊥ to the norm of a trained D^Z).
* ``dcl-o``  (App. F) one adaptive dictionary, moved only by the LAST intermediate block's
             loss; blocks 1..L-2 read it detached (sg[t]).
* ``dcl-ld`` (App. F) one adaptive dictionary per block, D_l^Z (Z x C_l) at the block's own
             width C_l (no pooling), each in its own block's optimizer: Δθ = Z * sum_l C_l.

Options that every variant honours (config fields, ``--set FIELD=VALUE``):

* ``adapter``: ``pool`` (pool_l of Eq. 2, default) or ``project``: a learned
  ``Linear(C_D, C_l)`` f_P^l per block (Table 5) that maps every label embedding to the block's
  width; block l's optimizer trains it, and it counts in Δθ (sum_l C_D*C_l + C_l).
* ``similarity``: ``dot`` (default) or ``cosine`` with ``temperature`` (App. H).
* ``segments``: K for flat (FC) blocks, any divisor of the width (App. E).
* ``dict_update``: ``sequential`` (default; the dictionary is in every learning block's AdamW
  and is stepped after each block) or ``accumulate`` (the blocks' gradients are summed and one
  shared AdamW takes one step per batch, after the last block). See docs/variants.md.

The head f_L trains with cross-entropy on the detached last block output.
"""
from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from ..config.options import Option
from ..config.rules import BIG, choice, integer, optional, real, text
from ..engine.checkpoint import load_checkpoint
from ..errors import DCLError
from ..losses import DictionaryContrastiveLoss
from .base import METHODS
from .local import LocalMethod

_DICT_KEY = re.compile(r"^(dictionary|dictionaries\.\d+)\.weight$")


def dictionary_row_norm(checkpoint) -> float:
    """Mean L2 norm of the label-embedding rows saved in ``checkpoint`` (file or run folder).

    With several dictionaries (``dcl-ld``) the mean is over all their rows. Used to scale a
    static dictionary to the norm of a trained D^Z (Fig. 4).
    """
    state = load_checkpoint(checkpoint)
    weights = [w for k, w in state["aux"].items() if _DICT_KEY.match(k)]
    if not weights:
        method = state.get("config", {}).get("method")
        raise DCLError(f"checkpoint {checkpoint} holds no label dictionary (it was trained with method {method!r})")
    return float(torch.cat([w.float().norm(dim=1) for w in weights]).mean())


def resolve_dict_norm(cfg) -> float | None:
    """The row norm for new dictionaries: ``cfg.dict_norm``, or read from ``cfg.dict_norm_from``."""
    if cfg.dict_norm_from is None:
        return cfg.dict_norm
    if cfg.dict_norm is not None:
        raise DCLError(f"give dict_norm ({cfg.dict_norm}) or dict_norm_from ({cfg.dict_norm_from!r}), not both")
    return dictionary_row_norm(cfg.dict_norm_from)


#: the dictionary loss's own fields (Eq. 2; App. H; Table 5; Fig. 4), read by every DCL variant
DICTIONARY_OPTIONS = (
    Option("dict_dim", int | None, None, optional(integer(1, BIG)), "C_D; None = the widest block (paper: max C_h^l)"),
    Option("similarity", str, "dot", choice("dot", "cosine"), "dot | cosine (App. H)"),
    Option("temperature", float | None, None, optional(real(0, None, lo_open=True)),
           "None: 1.0 for dot, 0.07 for cosine"),
    Option("dict_init", str, "normal", choice("normal", "orthogonal"), "normal (D^N / D^Z) | orthogonal (D^⊥)"),
    Option("dict_norm", float | None, None, optional(real(0, None, lo_open=True)),
           "rescale static dictionary rows to this L2 norm", excludes=("dict_norm_from",)),
    Option("dict_norm_from", str | None, None, optional(text("a checkpoint file or run folder")),
           "... or to the mean row norm of this checkpoint's dictionary (Fig. 4)"),
    Option("adapter", str, "pool", choice("pool", "project"), "pool (pool_l) | project (f_P^l, Table 5)"),
    Option("dict_update", str, "sequential", choice("sequential", "accumulate"),
           "sequential (authors: after each block) | accumulate"),
)


class DCL(LocalMethod):
    """DCL with an adaptive label-embedding dictionary D^Z (paper §4.2)."""
    options = DICTIONARY_OPTIONS

    layerwise = True
    supports_micro_batches = True  # L_dict and the head's cross-entropy are means over samples
    #: the dictionary is a buffer that never changes (DCL-S)
    static = False
    #: which blocks' losses move the shared dictionary: "all" (DCL) or "last" (DCL-O)
    dict_learners = "all"

    # --- building -------------------------------------------------------------------------
    def new_dictionary(self, dim: int, norm: float | None) -> DictionaryContrastiveLoss:
        cfg = self.cfg
        return DictionaryContrastiveLoss(
            self.net.num_classes, dim, static=self.static, similarity=cfg.similarity,
            temperature=cfg.temperature, init=cfg.dict_init, norm=norm,
        )

    def build_aux(self) -> None:
        cfg = self.cfg
        dim = cfg.dict_dim or self.net.max_width
        self.aux = nn.Module()
        self.aux.dictionary = self.new_dictionary(dim, resolve_dict_norm(cfg))
        if cfg.adapter == "project":
            # f_P^l: R^{C_D} -> R^{C_l}, one per block (Table 5)
            self.aux.projections = nn.ModuleList(nn.Linear(dim, s.width) for s in self.net.specs)

    # --- which dictionary / adapter block i uses -----------------------------------------------
    @property
    def dictionary(self) -> DictionaryContrastiveLoss:
        """The shared dictionary (for ``dcl-ld``: the last intermediate block's)."""
        return self.aux.dictionary

    def dictionary_of(self, i: int) -> DictionaryContrastiveLoss:
        """The dictionary block ``i`` (0-based) reads."""
        return self.aux.dictionary

    def projection(self, i: int) -> nn.Module | None:
        """Block ``i``'s adapter f_P^i, or None for pooling (pool_l)."""
        return self.aux.projections[i] if self.cfg.adapter == "project" else None

    def learns_dictionary(self, i: int) -> bool:
        """Does block ``i``'s loss send gradient into its dictionary?"""
        if self.static:
            return False
        return self.dict_learners == "all" or i == len(self.net.blocks) - 1

    # --- optimizer wiring (see methods/local.py) ---------------------------------------------
    def block_params(self, i: int) -> list[nn.Parameter]:
        proj = self.projection(i)
        params = list(proj.parameters()) if proj is not None else []
        if self.learns_dictionary(i) and self.cfg.dict_update == "sequential":
            params.append(self.dictionary_of(i).weight)
        return params

    @classmethod
    def config_for_stages(cls, cfg):
        """Under ``--stages`` the adaptive dictionary cannot be stepped block after block (the
        blocks run on different ranks at once): its gradients accumulate, one step per tick."""
        if not cls.static and cls.dict_learners == "all" and cfg.dict_update == "sequential":
            return cfg.replace(dict_update="accumulate")
        return cfg

    def block_owned_params(self) -> list[tuple[nn.Parameter, int]]:
        """DCL-O: the last block's loss alone moves the dictionary; the others read it."""
        if not self.static and self.dict_learners == "last" and self.shared_optimizer is None:
            return [(self.dictionary.weight, len(self.net.blocks) - 1)]
        return []

    def shared_params(self) -> list[nn.Parameter]:
        if self.static or self.cfg.dict_update != "accumulate":
            return []
        return [self.dictionary.weight]

    def blocks_independent(self) -> bool:
        """Micro-batches may run pipelined (methods/local.py) unless one block's step changes the
        dictionary a later block reads in the same batch: a static dictionary (DCL-S), one shared
        step after all blocks (``dict_update=accumulate``) or only the last block moving it (DCL-O)."""
        if self.static or self.cfg.dict_update == "accumulate":
            return True
        learners = [i for i in range(len(self.net.blocks)) if self.learns_dictionary(i)]
        return learners in ([], [len(self.net.blocks) - 1])

    # --- losses and predictions -------------------------------------------------------------
    def embedding_logits(self, i: int, h: Tensor, weight: Tensor | None = None) -> Tensor:
        """Block ``i``'s similarity scores ``(B, Z')`` of its output ``h`` against the label
        embeddings ``weight (Z', C_D)`` (default: its dictionary), through its adapter (Eq. 3)."""
        d = self.dictionary_of(i)
        return d.logits(self.net.features(i, h), self.net.segments(i), self.projection(i), weight)

    def block_logits(self, i: int, h: Tensor) -> Tensor:
        return self.embedding_logits(i, h)

    def block_loss(self, i: int, h: Tensor, y: Tensor) -> Tensor:
        d = self.dictionary_of(i)
        weight = None if self.learns_dictionary(i) else d.weight.detach()  # sg[t]
        return d(self.net.features(i, h), y, self.net.segments(i), self.projection(i), weight, check=False)


class StaticDCL(DCL):
    """DCL-S: static N(0,1) (or orthogonal) label embeddings that never change (paper §4.2, Fig. 4)."""

    static = True


class DCLO(DCL):
    """DCL-O (App. F): the shared dictionary is updated only by the last intermediate block's loss."""

    dict_learners = "last"


class DCLLD(DCL):
    """DCL-LD (App. F): a separate adaptive dictionary D_l^Z (Z x C_l) for every block.

    Each dictionary has the width of its block, so no pooling or projection is needed
    (``dict_dim`` is ignored; ``adapter=project`` is refused). Each is in its own block's
    optimizer only, so ``dict_update`` makes no difference: each takes one step per batch.
    """
    options = tuple(o for o in DICTIONARY_OPTIONS if o.name != "dict_dim")  # one dictionary per block width

    @classmethod
    def config_for_stages(cls, cfg):
        return cfg  # each dictionary lives on its block's stage: nothing to rewire

    def build_aux(self) -> None:
        cfg = self.cfg
        if cfg.adapter != "pool":
            raise DCLError(f"adapter {cfg.adapter!r} does not apply to dcl-ld (each dictionary already has its "
                           f"block's width); valid choices: pool")
        norm = resolve_dict_norm(cfg)
        self.aux = nn.Module()
        self.aux.dictionaries = nn.ModuleList(self.new_dictionary(s.width, norm) for s in self.net.specs)

    @property
    def dictionary(self) -> DictionaryContrastiveLoss:
        return self.aux.dictionaries[-1]

    def dictionary_of(self, i: int) -> DictionaryContrastiveLoss:
        return self.aux.dictionaries[i]

    def projection(self, i: int) -> nn.Module | None:
        return None

    def learns_dictionary(self, i: int) -> bool:
        return not self.static

    def block_params(self, i: int) -> list[nn.Parameter]:
        return [self.dictionary_of(i).weight] if self.learns_dictionary(i) else []

    def shared_params(self) -> list[nn.Parameter]:
        return []

    def blocks_independent(self) -> bool:
        return True  # each dictionary is read and stepped by its own block only


METHODS.register("dcl", DCL, description="DCL: adaptive label dictionary D^Z, updated by every block's L_dict")
METHODS.register("dcl-s", StaticDCL,
                 description="DCL-S: static N(0,1) dictionary D^N, or D^⊥ with dict_init=orthogonal (never updated)")
METHODS.register("dcl-o", DCLO,
                 description="DCL-O: one adaptive dictionary updated only by the last intermediate block (App. F)")
METHODS.register("dcl-ld", DCLLD,
                 description="DCL-LD: one adaptive dictionary per block at the block's own width (App. F)")
