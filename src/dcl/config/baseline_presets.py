"""The baseline methods' own recipes, registered as presets ``{method}-{arch}-{data}``.

Local learning (``ll-*``: Nøkland & Eidnes' and InfoPro's recipes; REFERENCE-LL §5-8,
docs/baselines.md) and forward learning (FF, SymBa, PFF, CaFo, DRTP; REFERENCE-FL.md,
docs/forward-learning.md). DCL's and BP's presets live in :mod:`dcl.config`.
"""
from __future__ import annotations

from .train_config import PRESETS, _preset

# --- local-learning baselines: the ll-* methods' own recipes (REFERENCE-LL §5-8) -----------
# Nøkland & Eidnes' VGG8B recipes (Table 3 copies or reuses them; App. J.2.4, J.2.5): Adam, wd
# 0, batch 128, gamma 0.25, output layer from zero; ReLU (pred, cont, contrec) or LeakyReLU
# (sim, predsim, bpf); cont / contrec A = 1024 at 28 px, else 2048; bpf A 4096, beta 0.01
# (CIFAR-10 dropout 0.05); CIFAR-100 sim / predsim / bpf class-limited for 200 epochs.
# feat trains with the pair's (DCL's) preset, as the paper does. docs/baselines.md.
_NE_DATA = {  # data: (lr, epochs, milestones, dropout, A of pred / predsim)
    "mnist": (5e-4, 100, (50, 75, 89, 94), 0.2, 1024),
    "fashion-mnist": (5e-4, 200, (100, 150, 175, 188), 0.1, 1024),
    "cifar10": (5e-4, 400, (200, 300, 350, 375), 0.2, 2048),
    "cifar100": (5e-4, 400, (200, 300, 350, 375), 0.05, 4096),
    "svhn": (3e-4, 100, (50, 75, 89, 94), 0.3, 2048),
    "stl10": (5e-4, 400, (200, 300, 350, 375), 0.1, 2048),
}
_NE = dict(arch="vgg8b", optimizer="adam", weight_decay=0.0, batch_size=128, gamma=0.25, zero_head=True)


def _ll_presets() -> None:
    """Register the N&E-recipe presets ``{method}-vgg8b-{data}`` of the ll-* methods, and
    ``ll-cont-{arch}-cifar10`` for the Table V networks (DCL's recipe for each, InfoPro-style
    heads: global average pool or token mean -> Linear(C, 128), so ``aux_dim=None``)."""
    for data, (lr, epochs, milestones, dropout, a) in _NE_DATA.items():
        a_cont = 1024 if data in ("mnist", "fashion-mnist") else 2048
        limited = dict(class_limited_epochs=200) if data == "cifar100" else {}
        bpf_dropout = dict(dropout=0.05) if data == "cifar10" else {}
        for method, extra in (
                ("ll-pred", dict(activation="relu", aux_dim=a)),
                ("ll-sim", dict(activation="leaky_relu", **limited)),
                ("ll-predsim", dict(activation="leaky_relu", aux_dim=a, ll_beta=0.99, **limited)),
                ("ll-bpf", dict(activation="leaky_relu", aux_dim=4096, ll_beta=0.01, **limited, **bpf_dropout)),
                ("ll-cont", dict(activation="relu", aux_dim=a_cont)),
                ("ll-contrec", dict(activation="relu", aux_dim=a_cont, contrec_alpha=1.0))):
            v = {**_NE, "data": data, "lr": lr, "epochs": epochs, "milestones": milestones, "dropout": dropout,
                 **extra}
            _preset(f"{method}-vgg8b-{data}",
                    f"{method}, VGG8B, {data} (N&E recipe): Adam wd 0, lr {lr:g}, {epochs} ep, dropout "
                    f"{v['dropout']:g}, {v['activation']}" + (f", A {v['aux_dim']}" if "aux_dim" in v else ""), **v)
    for arch in ("resnet32", "resnet32-w", "vit", "mlp-mixer"):
        _preset(f"ll-cont-{arch}-cifar10", f"ll-cont, {arch}, CIFAR-10 (Table V): the {arch}-cifar10 recipe, "
                f"GAP / token mean -> Linear(C, 128) heads", **{**PRESETS.get(f"{arch}-cifar10"), "aux_dim": None})


_ll_presets()


# --- forward-learning baselines (paper Tables 1-2; REFERENCE-FL.md; docs/forward-learning.md) ---
# Each is the method's own recipe, found as "{method}-{arch}-{data}". DRTP on fc / conv uses the
# pair's recipe (fc-mnist, ...): no "drtp-fc-*" preset, which would also read as arch "drtp-fc".
# FF, SymBa on the FC net (Table VI; the paper quotes their authors' errors, with no recipe for it):
# loeweX's FF schedule (batch 100, 100 epochs, lr cooled in the second half), AdamW 1e-3, wd 3e-4.
_FF = dict(arch="fc", batch_size=100, epochs=100, optimizer="adamw", lr=1e-3, weight_decay=3e-4,
           schedule="multistep", milestones=(50, 75, 90), gamma=0.5, augment=False)
for _m, _what in (("ff", "Forward-Forward (mean goodness, theta 2)"), ("symba", "SymBa (alpha 4)")):
    for _d, _w in (("mnist", 1024), ("fashion-mnist", 1024), ("cifar10", 3072), ("cifar100", 3072)):
        _preset(f"{_m}-fc-{_d}", f"{_what} on the FC net, {_d}: D={_w}, batch 100, AdamW 1e-3, 100 ep; "
                f"goodness inference + neutral-label head", **_FF, width=_w, data=_d)
# PFF (Ororbia & Mali 2023): n = 2000, K = 12, Adam lr 2.5e-4 with clipping +-1, batch 500 (+500
# negatives), 60 epochs (the authors keep the best dev model). Adam = AdamW with weight_decay 0.
_PFF = dict(arch="pff", batch_size=500, epochs=60, optimizer="adamw", lr=2.5e-4, weight_decay=0.0,
            schedule="constant", width=2000, augment=False)
for _d in ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100"):
    _preset(f"pff-pff-{_d}", f"PFF on its 2x2000 circuit, {_d}: K=12, Adam 2.5e-4, clip 1, batch 500, 60 ep",
            **_PFF, data=_d)
# CaFo (Zhao et al. 2023): frozen random blocks 32/128/512; each bias-free predictor from
# all-ones by 5000 full-batch gradient steps of lr 0.01 on the training set's features (CE).
# One epoch = one pass that collects the training set, then the predictors' fit.
_CAFO = dict(arch="cafo", epochs=1, batch_size=1000, optimizer="sgd", lr=0.01, momentum=0.0, nesterov=False,
             weight_decay=0.0, schedule="constant", channels=(32, 128, 512), augment=False,
             cafo_solver="ce", cafo_steps=5000)
for _d in ("mnist", "fashion-mnist", "cifar10", "cifar100"):
    _preset(f"cafo-cafo-{_d}", f"CaFo on 3 frozen random conv blocks, {_d}: CE predictors, 5000 full-batch "
            f"steps of lr 0.01", **_CAFO, data=_d)
# DRTP (Frenkel et al. 2021), repo defaults: tanh, sigmoid + BCE output, SGD Nesterov 0.9, lr
# 1e-4, batch 100, 100 epochs. CIFAR conv: the repo's CIFAR-10 example (frozen conv, dropout
# 0.05, CE output, lr 5e-4, 200 epochs) with FC 1000 (decision 1); ...-fc2000 is the example as
# written (DCL's replicated CIFAR-100 row).
_DRTP = dict(batch_size=100, epochs=100, optimizer="sgd", lr=1e-4, momentum=0.9, nesterov=True, weight_decay=0.0,
             schedule="constant", width=1000, dropout=0.0, augment=False, drtp_activation="tanh", drtp_loss="bce")
_DRTP_CIFAR_CONV = _DRTP | dict(epochs=200, lr=5e-4, dropout=0.05, drtp_loss="ce", drtp_freeze_conv=True,
                                augment=True)
for _d in ("mnist", "fashion-mnist", "cifar10", "cifar100"):
    _preset(f"drtp-drtp-fc-{_d}", f"DRTP, {_d}: FC in-1000-1000-Z tanh, BCE output, SGD Nesterov lr 1e-4, "
            f"batch 100, 100 ep", **_DRTP, arch="drtp-fc", data=_d)
    _preset(f"drtp-drtp-conv-{_d}", f"DRTP, {_d}: " + ("frozen conv 64, 256 + FC 1000 + Z, dropout 0.05, CE "
            "output, lr 5e-4, 200 ep" if "cifar" in _d else "conv 32 5x5 + FC 1000 + Z, tanh, BCE output, SGD "
            "Nesterov lr 1e-4, batch 100, 100 ep"), **(_DRTP_CIFAR_CONV if "cifar" in _d else _DRTP),
            arch="drtp-conv", data=_d)
_preset("drtp-drtp-conv-cifar100-fc2000", "DRTP, CIFAR-100: the repo's CIFAR example as written (FC 2000), "
        "DCL's replicated row", **_DRTP_CIFAR_CONV | dict(width=2000), arch="drtp-conv", data="cifar100")
