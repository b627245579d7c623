"""Typed run configuration and the paper's hyperparameters as named presets.

Every hyperparameter of a run lives in :class:`TrainConfig`. A *preset* is a named set of
field values taken from the paper (Table VII, App. J) or from ``REFERENCE.md`` where the
paper leaves a value open; :data:`PRESETS` is the one table that holds them all. When a run
names no preset, the method's own recipe ``"{method}-{arch}-{data}"`` is used if it exists
(a baseline's paper recipe), else ``"{arch}-{data}"`` (DCL's and BP's).

Precedence: dataclass defaults < preset < explicit overrides (CLI flags, ``--set k=v``).
"""
from __future__ import annotations

import dataclasses
import functools
import typing
import warnings
from dataclasses import dataclass, fields
from typing import Any

from ..checks import describe_value
from .values import coerce_value, exact_value, merge_options, parse_set_options, type_name  # noqa: F401
from .rules import ACTIVATIONS, DROPOUT_KINDS, RULES, check_field_use, check_values  # noqa: F401
from ..errors import DCLError, DCLNote
from ..registry import Registry


@dataclass
class TrainConfig:
    # --- what to train ------------------------------------------------------------------
    arch: str = "fc"                   # registry name of the network (dcl list)
    data: str = "mnist"                # registry name of the dataset
    method: str = "dcl"                # how blocks learn: bp | dcl | dcl-s | ...
    preset: str | None = None          # the preset these values came from (informational)
    # --- optimisation (paper App. J: AdamW, betas 0.9/0.999, weight decay 0.01) ---------
    epochs: int = 150
    batch_size: int = 512
    lr: float = 5e-4
    optimizer: str = "adamw"           # adamw | adam (N&E's LL recipes) | sgd
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9              # sgd only
    nesterov: bool = True              # sgd only
    schedule: str = "multistep"        # multistep | cosine | constant; stepped once per epoch
    milestones: tuple[int, ...] = (50, 100, 125)
    gamma: float = 0.5                 # MultiStepLR decay (FC/Conv 0.5, VGG8B 0.25)
    # --- network ------------------------------------------------------------------------
    width: int = 1024                  # FC hidden width D
    channels: tuple[int, ...] = (64, 256)  # Conv network channels (stride 1, 2, 2, ...)
    dropout: float = 0.0
    dropout_kind: str = "channel"      # conv blocks: channel (Dropout2d, authors' VGG8B code) | element (Table VIII)
    activation: str = "relu"           # hidden activation: relu | leaky_relu (N&E sim/predsim) | tanh
    head_relu: bool = False            # FC: ReLU on the logits, as the authors' code (Table VI has none)
    # --- dictionary loss (Eq. 2) -------------------------------------------------------
    segments: int = 8                  # K for flat (FC) blocks: width = K * C
    dict_dim: int | None = None        # C_D; None = the widest block (paper: max C_h^l)
    similarity: str = "dot"            # dot | cosine (App. H)
    temperature: float | None = None   # None: 1.0 for dot, 0.07 for cosine
    dict_init: str = "normal"          # normal (D^N / D^Z) | orthogonal (D^⊥)
    dict_norm: float | None = None     # rescale static dictionary rows to this L2 norm
    dict_norm_from: str | None = None  # ... or to the mean row norm of this checkpoint's dictionary (Fig. 4)
    adapter: str = "pool"              # pool (pool_l) | project (f_P^l, Table 5)
    dict_update: str = "sequential"    # sequential (authors: after each block) | accumulate
    # --- local-learning baselines: feat, ll-* (paper Eq. 1, App. J.2.4-J.2.5; REFERENCE-LL) ---
    aux_dim: int | None = None         # A: conv maps are average-pooled to A values (C*h*w = A) before an
                                       # aux head (N&E: 1024 at 28 px, 2048 at 32 px; bpf 4096); None = global
                                       # average pool to C (Table V heads); tokens are averaged, flat kept
    proj_dim: int = 128                # ll-cont head output, ll-bpf label projection width
    contrast_temperature: float = 0.07  # tau of the supervised contrastive loss (feat, ll-cont, ll-contrec)
    supcon_average: str = "anchor"     # anchor (per-anchor mean, InfoPro / authors) | pairs (Eq. 1 as printed)
    ll_beta: float | None = None       # predsim / bpf: (1-beta) L_pred + beta L_sim, head CE x (1-beta);
                                       # None = 0.99 (ll-predsim), 0.01 (ll-bpf)
    contrec_alpha: float = 1.0         # ll-contrec: alpha*beta_l L_contrast + alpha*(1-beta_l) L_rec, beta_l = l/(L-1)
    zero_head: bool = False            # N&E: the output layer's weight starts at zero (their local mode)
    class_limited_epochs: int = 0      # N&E CIFAR-100 sim/predsim: class-limited batches for this many epochs
    class_limited_seeds: int = 20      # ... each batch starts from this many random samples, filled with their classes
    # --- forward learning: FF, SymBa, PFF, CaFo, DRTP (REFERENCE-FL.md; docs/forward-learning.md) ---
    ff_goodness: str = "mean"          # FF/SymBa goodness G of a layer: mean (mean_j h_j^2, mpezeshki) | sum (sum_j h_j^2, loeweX)
    ff_threshold: float | None = None  # FF theta; None = the layer's unit count for sum (loeweX), 2.0 for mean (mpezeshki)
    ff_norm: str = "rms"               # between FF layers: rms (h / RMS(h), Hinton) | none (the network's own, e.g. fc's LayerNorm)
    ff_negatives: str = "random"       # wrong label of a negative: random (uniform, never the true one) | hard (from the neutral head)
    ff_score_layers: str = "all"       # goodness inference sums: all layers | skip-first (Hinton: all but the first hidden layer)
    symba_alpha: float = 4.0           # SymBa: L = softplus(-alpha * (G_pos - G_neg))
    pff_steps: int = 12                # PFF: K iterative steps (and updates) per batch
    pff_eval_steps: int = 7            # PFF inference: noise-free steps per label; energy averaged over the last 2
    pff_leak: float = 0.3              # PFF: z = (1 - leak) * phi(a) + leak * z'
    pff_threshold: float = 10.0        # PFF: logit = theta - sum_j z_j^2 (low energy = positive)
    pff_label_scale: float = 5.0       # PFF: y_s = scale * one-hot
    pff_noise: float = 0.01            # PFF: std of the state noise epsilon in training
    pff_group: int = 10                # PFF: lateral competition within groups of this many units
    pff_clip: float = 1.0              # PFF: element-wise gradient clipping to [-clip, clip] at every step
    pff_generative: bool = True        # PFF: build and train the generative circuit (does not affect classification)
    pff_latent: int = 20               # PFF generative circuit: latent z_g size
    pff_latent_lr: float = 0.025       # PFF generative circuit: step size of z_g's gradient step
    pff_gen_noise: float = 0.025       # PFF generative circuit: std of epsilon' added to the states it reads
    cafo_solver: str = "ce"            # CaFo predictors: ce (full-batch gradient descent) | mse (closed form)
    cafo_steps: int = 5000             # CaFo ce: full-batch gradient steps per epoch (lr = lr, ridge = weight_decay)
    cafo_bn_stats: str = "train"       # CaFo BatchNorm statistics: train (training set) | batch (each batch's own, the repo's test-set statistics)
    drtp_activation: str = "tanh"      # drtp-fc / drtp-conv hidden activation: tanh | relu | leaky_relu
    drtp_loss: str = "bce"             # DRTP output layer: bce (sigmoid + binary cross-entropy) | ce (softmax cross-entropy)
    drtp_freeze_conv: bool = False     # drtp-conv: conv layers stay at their random init (frozen random)
    # --- data ---------------------------------------------------------------------------
    augment: bool = True               # the paper's train augmentation for this dataset
    val_split: int = 0                 # hold out this many training samples for validation
    limit_train_batches: int | None = None  # cap an epoch (quick runs)
    eval_batch_size: int = 1000
    # --- run ----------------------------------------------------------------------------
    seed: int = 0
    device: str = "auto"               # auto (CUDA, else MPS, else CPU) | cpu | cuda | cuda:N | mps
    channels_last: bool = False
    compile: bool = False
    amp: bool = False                  # bf16 autocast (CUDA only; elsewhere a one-line note, float32)
    # --- logging and checkpoints (dcl.engine.callbacks; docs/experiments.md) -------------------
    log_every: int = 10                # training steps between per-step log rows (TensorBoard, steps.csv)
    tensorboard: bool = True           # TensorBoard event files in OUT/tensorboard (needs the tensorboard package)
    checkpoint_every: int | None = None  # also write checkpoint.pt every N training steps (None: epoch ends only)
    # --- training past one device (dcl.parallel; docs/parallel.md; run under torchrun) ---
    stages: int = 1                    # pipeline stages: ranks per replica, each training its own blocks
    stage_split: tuple[int, ...] | None = None  # blocks per stage, e.g. 3,2,2; None: balanced by measured cost
    max_in_flight: int = 2             # batches a stage may send ahead of the next stage
    dist_timeout: float = 300.0        # seconds a rank waits for another before the run stops with an error
    grad_overlap: bool = True          # data-parallel: start each gradient's all-reduce during backward
    sync_bn: bool = False              # data-parallel: BatchNorm statistics over all replicas (CUDA only)
    # --- memory savers (docs/benchmarks.md) ---------------------------------------------
    lean_layers: bool = True           # exact lean layers (1-byte dropout masks, 2-bit max-pool positions,
                                       # fused BN-activation, fused LayerNorm-Linear for local blocks); false: torch's
    micro_batches: int | None = None   # M: each batch in M micro-batches, gradients summed, one update (bp-accum,
                                       # bp-ckpt, dcl*); None: the method's default (bp-accum 4, the others 1)

    def __post_init__(self) -> None:
        """Every TrainConfig is valid: the types of the annotations (``lr="abc"`` or
        ``epochs="2"`` is a DCLError; lists become tuples), then every field's range
        (:mod:`dcl.config.rules`)."""
        check_types(self)
        check_values(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return coerce_overrides(cls(), {k: v for k, v in d.items() if k in known})


PRESETS: Registry[dict[str, Any]] = Registry("preset")


def _preset(name: str, description: str, **values: Any) -> None:
    PRESETS.register(name, values, description=description)


# ---------------------------------------------------------------------------------------
# The paper's hyperparameters (Table VII; App. J.2.1-J.2.3; REFERENCE.md). One row each.
# FC / Conv: AdamW, batch 512, MultiStepLR gamma 0.5.  VGG8B: batch 128, gamma 0.25.
# ---------------------------------------------------------------------------------------
_FC = dict(arch="fc", batch_size=512, gamma=0.5)
_CONV = dict(arch="conv", batch_size=512, gamma=0.5, channels=(64, 256))
_preset("fc-mnist", "FC, MNIST: 150 ep, lr 5e-4, D=1024, K=8, dict 10x128 (Table VII)",
        **_FC, data="mnist", epochs=150, lr=5e-4, milestones=(50, 100, 125), width=1024, segments=8)
_preset("fc-fashion-mnist", "FC, Fashion-MNIST: the FC MNIST recipe (no paper row)",
        **_FC, data="fashion-mnist", epochs=150, lr=5e-4, milestones=(50, 100, 125), width=1024, segments=8)
_preset("fc-cifar10", "FC, CIFAR-10: 400 ep, lr 2e-4, D=3072, K=48, dict 10x64 (Table VII)",
        **_FC, data="cifar10", epochs=400, lr=2e-4, milestones=(50, 150, 200, 350), width=3072, segments=48)
_preset("fc-cifar100", "FC, CIFAR-100: 200 ep, lr 1e-4, D=3072, K=12, dropout 0.3, dict 100x256",
        **_FC, data="cifar100", epochs=200, lr=1e-4, milestones=(50, 100, 150), width=3072, segments=12, dropout=0.3)
_preset("conv-mnist", "Conv, MNIST: 150 ep, lr 7.5e-3, dict Zx256 (Table VII)",
        **_CONV, data="mnist", epochs=150, lr=7.5e-3, milestones=(50, 75, 100, 125))
_preset("conv-fashion-mnist", "Conv, Fashion-MNIST: the Conv MNIST recipe (no paper row)",
        **_CONV, data="fashion-mnist", epochs=150, lr=7.5e-3, milestones=(50, 75, 100, 125))
_preset("conv-cifar10", "Conv, CIFAR-10: 500 ep, lr 7.5e-3 (Table VII)",
        **_CONV, data="cifar10", epochs=500, lr=7.5e-3, milestones=(100, 200, 300, 400, 450))
_preset("conv-cifar100", "Conv, CIFAR-100: 400 ep, lr 7.5e-3, 3-conv net, dict 100x512 (Table VI)",
        **{**_CONV, "channels": (64, 256, 512)}, data="cifar100", epochs=400, lr=7.5e-3,
        milestones=(100, 200, 250, 300, 350))
_VGG = dict(arch="vgg8b", batch_size=128, gamma=0.25, dict_dim=512, segments=2)
_preset("vgg8b-mnist", "VGG8B, MNIST: 100 ep, lr 5e-4, dropout 0.1 (Table VII)",
        **_VGG, data="mnist", epochs=100, lr=5e-4, milestones=(50, 75, 89, 94), dropout=0.1)
_preset("vgg8b-fashion-mnist", "VGG8B, Fashion-MNIST: 200 ep, lr 5e-4, dropout 0.1 (Table VII)",
        **_VGG, data="fashion-mnist", epochs=200, lr=5e-4, milestones=(100, 150, 175, 188), dropout=0.1)
_preset("vgg8b-cifar10", "VGG8B, CIFAR-10: 400 ep, lr 5e-4, dropout 0.05 (Table VII)",
        **_VGG, data="cifar10", epochs=400, lr=5e-4, milestones=(200, 300, 350, 375), dropout=0.05)
_preset("vgg8b-cifar100", "VGG8B, CIFAR-100: 400 ep, lr 5e-4, dropout 0.05 (Table VII)",
        **_VGG, data="cifar100", epochs=400, lr=5e-4, milestones=(200, 300, 350, 375), dropout=0.05)
_preset("vgg8b-svhn", "VGG8B, SVHN+extra: 100 ep, lr 3e-4, dropout 0.05 (Table VII)",
        **_VGG, data="svhn", epochs=100, lr=3e-4, milestones=(50, 75, 89, 94), dropout=0.05)
_preset("vgg8b-stl10", "VGG8B, STL-10: 400 ep, lr 5e-4, dropout 0.1 (Table VII)",
        **_VGG, data="stl10", epochs=400, lr=5e-4, milestones=(200, 300, 350, 375), dropout=0.1)

# --- more datasets (CIFAR-20, SVHN, STL-10, K-MNIST) --------------------------------------
# CIFAR-20 (App. D, Table III "E2E": trained on the 20 super-labels): the paper gives no
# separate hyperparameters, so each network uses its CIFAR-100 row (same images, same
# augmentation). SVHN and STL-10 are VGG8B-only in the paper (rows above); K-MNIST is not in
# the paper's experiments (App. J), so it has no preset.
_preset("fc-cifar20", "FC, CIFAR-20 (Table III E2E): the FC CIFAR-100 recipe, dict 20x256",
        **_FC, data="cifar20", epochs=200, lr=1e-4, milestones=(50, 100, 150), width=3072, segments=12, dropout=0.3)
_preset("conv-cifar20", "Conv, CIFAR-20 (Table III E2E): the Conv CIFAR-100 recipe (3-conv net)",
        **{**_CONV, "channels": (64, 256, 512)}, data="cifar20", epochs=400, lr=7.5e-3,
        milestones=(100, 200, 250, 300, 350))
_preset("vgg8b-cifar20", "VGG8B, CIFAR-20 (Table III E2E): the VGG8B CIFAR-100 recipe",
        **_VGG, data="cifar20", epochs=400, lr=5e-4, milestones=(200, 300, 350, 375), dropout=0.05)

# --- larger networks (ResNet-32, ViT, MLP-Mixer; App. J.2.3, J.2.6) -----------------------
# ResNet-32 / -W: App. J.2.6 (SGD, Nesterov 0.9, wd 1e-4, batch 128, cosine from lr 0.8, 160
# epochs). The paper's lr 0.8 at batch 128 is kept as written, but InfoPro, whose setup the
# paper follows, ran lr 0.8 at batch 1024 (and a 10-epoch warm-up, which is not modelled here);
# REFERENCE-LL.md, decision 8. ViT / MLP-Mixer: "the same CIFAR-10 training hyperparameters
# utilized for VGG8B" (App. J.2.3). The dictionary width is the widest module (dict_dim=None).
_RESNET = dict(batch_size=128, epochs=160, optimizer="sgd", lr=0.8, momentum=0.9, nesterov=True,
               weight_decay=1e-4, schedule="cosine", dropout=0.0)
_preset("resnet32-cifar10", "ResNet-32, CIFAR-10: SGD Nesterov, wd 1e-4, batch 128, cosine lr 0.8, 160 ep "
        "(App. J.2.6; InfoPro used lr 0.8 at batch 1024)", **_RESNET, arch="resnet32", data="cifar10")
_preset("resnet32-w-cifar10", "ResNet-32-W, CIFAR-10: the ResNet-32 recipe (App. J.2.6; InfoPro used lr 0.8 "
        "at batch 1024)", **_RESNET, arch="resnet32-w", data="cifar10")
_TOKENS = dict(batch_size=128, epochs=400, optimizer="adamw", lr=5e-4, weight_decay=0.01,
               milestones=(200, 300, 350, 375), gamma=0.25, dropout=0.0)
_preset("vit-cifar10", "ViT, CIFAR-10: the VGG8B CIFAR-10 recipe, AdamW lr 5e-4, 400 ep, gamma 0.25 "
        "(App. J.2.3)", **_TOKENS, arch="vit", data="cifar10")
_preset("mlp-mixer-cifar10", "MLP-Mixer, CIFAR-10: the VGG8B CIFAR-10 recipe, AdamW lr 5e-4, 400 ep, "
        "gamma 0.25 (App. J.2.3)", **_TOKENS, arch="mlp-mixer", data="cifar10")



# ---------------------------------------------------------------------------------------
# Resolving a configuration
# ---------------------------------------------------------------------------------------
@functools.cache
def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


def check_types(cfg: TrainConfig) -> None:
    """Check (and normalise in place) each field's type against its annotation."""
    for name, tp in _field_types().items():
        ok, value = exact_value(getattr(cfg, name), tp)
        if not ok:
            raise DCLError(f"{name} must be {type_name(tp)}, got {describe_value(getattr(cfg, name))}")
        object.__setattr__(cfg, name, value)


def coerce_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Apply ``overrides`` (values may be strings) to ``cfg`` with type checking."""
    types = _field_types()
    changes = {}
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key not in types:
            raise DCLError(f"unknown config field {key!r}; valid fields: {', '.join(types)}")
        changes[key] = coerce_value(key, value, types[key])
    return dataclasses.replace(cfg, **changes)


def preset_candidates(arch: str, data: str, method: str) -> list[str]:
    """The preset names a run looks for, most specific first: the method's own recipe for the
    (network, dataset) pair (``"{method}-{arch}-{data}"``, e.g. ``ll-pred-vgg8b-cifar10``),
    then the pair's recipe (``"{arch}-{data}"``, DCL's and BP's)."""
    return [f"{method}-{arch}-{data}", f"{arch}-{data}"]


def find_preset(arch: str, data: str, method: str) -> str | None:
    """The first of :func:`preset_candidates` that exists, or None."""
    return next((n for n in preset_candidates(arch, data, method) if n in PRESETS), None)


RECIPE_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "milestones", "gamma", "dropout")


def fallback_note(arch: str, data: str, method: str, overrides: dict[str, Any] | None = None) -> str:
    """One line: the defaults (the RECIPE_FIELDS the user did not set) a run without preset uses."""
    cfg, overrides = TrainConfig(), overrides or {}
    values = ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                       for k in RECIPE_FIELDS if k not in overrides for v in [getattr(cfg, k)])
    return (f"no preset for {' or '.join(preset_candidates(arch, data, method))}: using the defaults "
            f"(the FC-MNIST recipe) {values}; name one with --preset or set values with --set")


def resolve_config(arch: str | None = None, data: str | None = None, preset: str | None = None,
                   **overrides: Any) -> TrainConfig:
    """Build the run config: defaults < preset < overrides.

    The preset is ``preset`` if named, else the method's recipe for the pair
    (``"{method}-{arch}-{data}"``) if there is one, else the pair's (``"{arch}-{data}"``).
    ``None`` values in ``overrides`` are ignored (flags the user did not give).
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    cfg = TrainConfig()
    values: dict[str, Any] = {}
    note = None
    if preset is not None:
        values = dict(PRESETS.get(str(preset)))
    else:
        method = str(overrides.get("method", cfg.method))
        preset = find_preset(str(arch or cfg.arch), str(data or cfg.data), method)
        if preset is not None:
            values = dict(PRESETS.get(preset))
        else:  # said in one line below, once the names are known to be valid
            note = fallback_note(arch or cfg.arch, data or cfg.data, method, overrides)
    if arch is not None:
        values["arch"] = arch
    if data is not None:
        values["data"] = data
    values["preset"] = preset
    cfg = coerce_overrides(cfg, values)
    cfg = coerce_overrides(cfg, overrides)
    check_names(cfg)
    if note is not None:  # the defaults were meant for FC on MNIST
        warnings.warn(note, DCLNote, stacklevel=2)
    return cfg


def check_names(cfg: TrainConfig) -> None:
    """Raise DCLError if the architecture, dataset or method is not registered (read from
    :mod:`dcl.config.catalog`, which imports no torch unless the registries are loaded already)."""
    from .catalog import check_name

    check_name("archs", cfg.arch)
    check_name("datasets", cfg.data)
    check_name("methods", cfg.method)


def validate_config(cfg: TrainConfig) -> None:
    """Check every field of ``cfg`` again (its type and range, :mod:`dcl.config.rules`): a
    TrainConfig checks itself when made, but its attributes can be reassigned since."""
    check_types(cfg)
    check_values(cfg)


def explicit_fields(cfg: TrainConfig) -> set[str]:
    """The fields of ``cfg`` that differ from the defaults with its preset applied: the ones
    someone set on purpose."""
    ref = TrainConfig()
    if cfg.preset is not None and cfg.preset in PRESETS:
        ref = coerce_overrides(ref, PRESETS.get(cfg.preset))
    return {f.name for f in fields(TrainConfig) if getattr(cfg, f.name) != getattr(ref, f.name)}


def check_fields_used(cfg: TrainConfig, custom_net: bool = False) -> None:
    """Refuse a field set on purpose that this run's network, method, optimizer or schedule
    never reads (:data:`dcl.config.rules.IGNORED_FIELDS`)."""
    check_field_use(cfg, explicit_fields(cfg), custom_net)


from . import baseline_presets  # noqa: E402,F401  (registers the baselines' own recipes)
