"""What every shared :class:`~dcl.config.TrainConfig` field may hold: one table of rules.

:data:`RULES` gives each field its range, its choices or its shape; :func:`check_values`
applies them and the few rules that tie fields together (SGD's Nesterov momentum needs a
momentum). A TrainConfig runs these checks whenever it is made (``TrainConfig(...)``,
``replace``, ``resolve_config``, a checkpoint's config), so a config that exists is a valid one.

:data:`IGNORED_FIELDS` says which shared fields an optimizer or schedule never reads; a field
set on purpose that the run never reads is refused (:func:`dcl.config.check_fields_used`).

A new shared field needs a rule here (``tests/test_bad_inputs.py`` checks that every field
has one); a method's or network's own field is an Option in its file.
"""
from __future__ import annotations

from typing import Any

from ..errors import DCLError
from .rules import BIG, MAX_SEED, Names, Rule, choice, flag, integer, integers, optional, pattern, real, reals, text

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("multistep", "cosine", "constant")
DEVICE_PATTERN = r"auto|cpu|cuda(:\d{1,3})?|mps"

#: every TrainConfig field -> its rule (types are checked before, from the field annotations)
RULES: dict[str, Rule] = {
    # what to train (the names are checked against the registries when a run is built)
    "arch": text(), "data": text(), "method": text(), "preset": optional(text()), "plugins": Names(),
    # optimisation
    "epochs": integer(1, BIG),
    "batch_size": integer(1, BIG),
    "lr": real(0, 100, lo_open=True),
    "optimizer": choice(*OPTIMIZERS),
    "weight_decay": real(0, 100),
    "betas": reals(2, 0, 1, hi_open=True),
    "momentum": real(0, 1, hi_open=True),
    "nesterov": flag,
    "schedule": choice(*SCHEDULES),
    "milestones": integers(1, BIG, increasing=True),
    "gamma": real(0, 1, lo_open=True),
    # network (a network's own fields are its options)
    "dropout": real(0, 1, hi_open=True),
    # data
    "augment": flag,
    "val_split": integer(0, BIG),
    "limit_train_batches": optional(integer(1, BIG)),
    "limit_test_batches": optional(integer(1, BIG)),
    "eval_batch_size": integer(1, BIG),
    # run
    "seed": integer(0, MAX_SEED),
    "device": pattern(DEVICE_PATTERN, "auto, cpu, cuda, cuda:N, mps"),
    "channels_last": flag,
    "compile": flag,
    "amp": flag,
    # logging and checkpoints
    "log_every": integer(1, BIG),
    "tensorboard": flag,
    "checkpoint_every": optional(integer(1, BIG)),
    # training past one device (dcl.parallel)
    "stages": integer(1, 1024),
    "stage_split": optional(integers(1, BIG, nonempty=True)),
    "max_in_flight": integer(1, 1024),
    "dist_timeout": real(0, None, lo_open=True),
    "grad_overlap": flag,
    "sync_bn": flag,
    # memory savers
    "lean_layers": flag,
    "micro_batches": optional(integer(1, BIG)),
}


def check_values(cfg: Any) -> None:
    """Apply :data:`RULES` to every field of ``cfg``, then the rules across fields."""
    for name, rule in RULES.items():
        value = getattr(cfg, name)
        if rule is not None:
            rule(name, value)
    if cfg.optimizer == "sgd" and cfg.nesterov and cfg.momentum == 0:
        raise DCLError("momentum must be > 0 for SGD with Nesterov momentum, got 0; "
                       "set a momentum in (0, 1) or nesterov=false")


# ---------------------------------------------------------------------------------------
# Shared fields that an optimizer or schedule never reads (a method's or network's own
# fields are refused from their declarations: dcl.config.resolve.check_fields_used)
# ---------------------------------------------------------------------------------------
#: (field, value) -> the shared fields that a run with that value never reads
IGNORED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("optimizer", "adamw"): ("momentum", "nesterov"),
    ("optimizer", "adam"): ("momentum", "nesterov"),
    ("optimizer", "sgd"): ("betas",),
    ("schedule", "cosine"): ("milestones", "gamma"),
    ("schedule", "constant"): ("milestones", "gamma"),
}
