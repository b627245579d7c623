"""The Predictive Forward-Forward algorithm (Ororbia & Mali 2023; REFERENCE-FL.md §3, decision 8).

Trains the circuit of :mod:`dcl.models.pff` (``--arch pff``). Per batch ``x (B, ...)``, ``y (B,)``:
positives are x with its label, negatives the same x with a uniformly random wrong label
(y_s = ``pff_label_scale`` x one-hot). The states start from the feed-forward pass; then K =
``pff_steps`` times::

    z1, z2 = step(z1', z2')                           # models/pff.py, both read sg[z'], noise ε
    loss_l = BCE(σ(θ - Σ_j z_l,j^2), positive)         # dcl.losses.pff_energy_loss: low energy = positive
    loss_3 = -Σ y_s log softmax(ν(z2') W + b) over positives / N_pos
    each loss reaches only its own layer's parameters (its inputs are sg); every optimizer
    takes one step, with element-wise clipping to ±pff_clip, AT EVERY STEP (K updates per batch)
    [generative circuit on the positives: predict z2 from z_g, z1 from z2, x from z1; one
     clipped step of G; z_g <- z_g - pff_latent_lr * d||ẑ2 - z2||^2 / dz_g]

Inference (``energy``, the default): for each label c, start from the feed-forward states and
run ``pff_eval_steps`` noise-free steps with y_s = c; the score of c is -(Σz1^2 + Σz2^2)/2
averaged over the last two steps: the lowest energy wins. ``block:1`` / ``block:2`` score one
layer's energy alone; ``head`` is the z3 head on the feed-forward states (the authors only
monitor it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config.options import Option
from ..config.presets import register_preset
from ..config.rules import BIG, integer, real
from ..errors import DCLError
from ..evaluate import BatchPredictions
from ..losses import pff_energy_loss
from ..models.pff import PFFNet, relu_pass_through, unit_norm
from ..optim import autocast
from .base import METHODS, Method
from .label_overlay import one_hot, wrong_labels

#: how many (sample, label) rows one inference pass holds at most
INFERENCE_ROWS = 10_000


#: PFF's own fields (Ororbia & Mali 2023); the circuit's (pff_group, pff_latent, ...) are the pff network's
PFF_OPTIONS = (
    Option("pff_steps", int, 12, integer(1, BIG), "K iterative steps (and updates) per batch"),
    Option("pff_eval_steps", int, 7, integer(2, BIG), "inference: noise-free steps per label; energy averaged over the last 2"),
    Option("pff_leak", float, 0.3, real(0, 1, hi_open=True), "z = (1 - leak) * phi(a) + leak * z'"),
    Option("pff_threshold", float, 10.0, real(), "logit = theta - sum_j z_j^2 (low energy = positive)"),
    Option("pff_label_scale", float, 5.0, real(0, None), "y_s = scale * one-hot"),
    Option("pff_noise", float, 0.01, real(0, None), "std of the state noise epsilon in training"),
    Option("pff_clip", float, 1.0, real(0, None, lo_open=True), "element-wise gradient clipping to [-clip, clip]"),
    Option("pff_latent_lr", float, 0.025, real(0, None), "generative circuit: step size of z_g's gradient step"),
    Option("pff_gen_noise", float, 0.025, real(0, None), "generative circuit: std of epsilon' added to the states it reads"),
)


class PFF(Method):
    """PFF: K recurrent steps per batch with a local update at each; lowest-energy inference."""
    options = PFF_OPTIONS
    own_arch = "pff"

    local = True
    layerwise = True
    extra_predictions = ("energy",)
    default_prediction = "energy"

    def build(self) -> None:
        if not isinstance(self.net, PFFNet):
            raise DCLError(f"method pff trains its own circuit: use --arch pff (got {self.net.name or 'a custom net'!r})")
        self.block_opts = [self.add_optimizer(block.parameters()) for block in self.net.blocks]
        self.head_opt = self.add_optimizer(self.net.head.parameters())
        gen = self.net.generator
        self.gen_opt = self.add_optimizer(gen.parameters()) if gen is not None else None

    # --- the circuit's dynamics -----------------------------------------------------------
    def initial_states(self, x_in: Tensor) -> tuple[Tensor, Tensor]:
        """Feed-forward states from ν(x) ``(B, in)``: z1 = φ(ν(x)W1+b1), z2 = φ(ν(z1)W2+b2)."""
        l1, l2 = self.net.blocks
        z1 = torch.relu(x_in @ l1.W + l1.b)
        z2 = torch.relu(unit_norm(z1) @ l2.W + l2.b)
        return z1, z2

    def step(self, x_in: Tensor, ys: Tensor, z1p: Tensor, z2p: Tensor, noise: float,
             drive: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step of both layers from the previous states ``z1p, z2p (B, n)`` (read as sg);
        ``x_in = ν(x)``, ``ys (B, Z)`` the scaled label; ``drive``: ν(x) W1 if already known
        (inference, where W1 does not change). Returns the new states (with graphs)."""
        l1, l2 = self.net.blocks
        z1p, z2p = z1p.detach(), z2p.detach()
        eps1 = torch.randn_like(z1p) * noise if noise > 0 else None
        eps2 = torch.randn_like(z2p) * noise if noise > 0 else None
        leak = self.cfg.pff_leak
        a1 = l1.pre_activation(x_in, unit_norm(z2p), z1p, eps1, drive)
        a2 = l2.pre_activation(unit_norm(z1p), ys, z2p, eps2)
        z1 = (1 - leak) * relu_pass_through(a1) + leak * z1p
        z2 = (1 - leak) * relu_pass_through(a2) + leak * z2p
        return z1, z2

    # --- training ---------------------------------------------------------------------------
    def update(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        cfg, net = self.cfg, self.net
        b, z = y.shape[0], net.num_classes
        pixels = net.pixels(x)                                   # (B, in) in [0, 1]
        x_in = unit_norm(pixels).repeat(2, 1)                    # [pos; neg]
        labels = torch.cat([y, wrong_labels(y, z)])
        ys = cfg.pff_label_scale * one_hot(labels, z, x_in.dtype)
        positive = torch.cat([torch.ones(b), torch.zeros(b)]).to(x_in)
        with torch.no_grad():
            z1, z2 = self.initial_states(x_in)
        z_g = x_in.new_zeros(b, cfg.pff_latent) if net.generator is not None else None
        sums = torch.zeros(3, device=x_in.device)
        gen_sum = torch.zeros((), device=x_in.device)
        for _ in range(cfg.pff_steps):
            with autocast(cfg, self.device):
                z1n, z2n = self.step(x_in, ys, z1, z2, cfg.pff_noise)
                logits = net.head(z2[:b])                        # z3 reads sg[z2'] of the positives
                losses = torch.stack([pff_energy_loss(z1n, positive, cfg.pff_threshold),
                                      pff_energy_loss(z2n, positive, cfg.pff_threshold),
                                      -(ys[:b] * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()])
            losses.sum().backward()                              # disjoint graphs: each reaches its own layer
            for opt in (*self.block_opts, self.head_opt):
                self.optimizer_step(opt, clip_value=cfg.pff_clip)
            z1, z2 = z1n.detach(), z2n.detach()
            sums += losses.detach()
            if z_g is not None:
                z_g, gen_loss = self.generative_step(z_g, pixels, z1[:b], z2[:b])
                gen_sum += gen_loss
        k = cfg.pff_steps
        out = {"loss": sums[2] / k, "block_losses": sums[:2] / k}
        if z_g is not None:
            out["generative_loss"] = gen_sum / k
        return out

    def generative_step(self, z_g: Tensor, x: Tensor, z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
        """One step of the generative circuit on the positives' states ``z1, z2 (B, n)`` and
        pixels ``x (B, in)``; returns the updated latent ``z_g (B, latent)`` and the loss."""
        gen, cfg = self.net.generator, self.cfg
        z_g = z_g.detach().requires_grad_(True)
        noise = cfg.pff_gen_noise
        with autocast(cfg, self.device):
            e2 = (gen.predict_z2(z_g) - z2).square().sum(dim=1)
            e1 = (gen.predict_z1(z2 + noise * torch.randn_like(z2)) - z1).square().sum(dim=1)
            e0 = (gen.predict_x(z1 + noise * torch.randn_like(z1)) - x).square().sum(dim=1)
            loss = (e0 + e1 + e2).mean()
        (grad_zg,) = torch.autograd.grad(e2.sum(), z_g, retain_graph=True)
        loss.backward()
        self.optimizer_step(self.gen_opt, clip_value=cfg.pff_clip)
        return (z_g - cfg.pff_latent_lr * grad_zg).detach(), loss.detach()

    # --- inference ----------------------------------------------------------------------------
    def label_energies(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Each layer's energy Σ_j z_j^2 ``(B, Z)`` for every label, averaged over the last two of
        ``pff_eval_steps`` noise-free steps from the feed-forward states."""
        cfg, z = self.cfg, self.net.num_classes
        x_in = unit_norm(self.net.pixels(x))
        b = x_in.shape[0]
        z1f, z2f = self.initial_states(x_in)
        drive = x_in @ self.net.blocks[0].W                       # ν(x) W1: the same for every label and step
        e1, e2 = x_in.new_zeros(b, z), x_in.new_zeros(b, z)
        chunk = max(1, INFERENCE_ROWS // max(b, 1))
        for c0 in range(0, z, chunk):
            labels = torch.arange(c0, min(z, c0 + chunk), device=x.device)
            m = labels.numel()
            ys = cfg.pff_label_scale * one_hot(labels.repeat_interleave(b), z, x_in.dtype)
            dr, z1, z2 = drive.repeat(m, 1), z1f.repeat(m, 1), z2f.repeat(m, 1)
            acc1, acc2 = torch.zeros_like(z1[:, 0]), torch.zeros_like(z2[:, 0])
            for t in range(cfg.pff_eval_steps):
                z1, z2 = self.step(None, ys, z1, z2, 0.0, drive=dr)
                if t >= cfg.pff_eval_steps - 2:
                    acc1 += z1.square().sum(dim=1) / 2
                    acc2 += z2.square().sum(dim=1) / 2
            e1[:, c0:c0 + m] = acc1.view(m, b).t()
            e2[:, c0:c0 + m] = acc2.view(m, b).t()
        return e1, e2

    def predict_batch(self, x: Tensor, on_block=None) -> BatchPredictions:
        e1, e2 = self.label_energies(x)
        x_in = unit_norm(self.net.pixels(x))
        z1f, z2f = self.initial_states(x_in)
        if on_block is not None:
            on_block(0, z1f)
            on_block(1, z2f)
        blocks = [-e1 / 2, -e2 / 2]  # -(energy)/2 per layer: higher is better
        return BatchPredictions(head=self.net.head(z2f), blocks=blocks, extra={"energy": -(e1 + e2) / 2})


METHODS.register("pff", PFF,
                 description="PFF (Ororbia & Mali 2023): recurrent circuit, K local updates per batch, lowest energy")


# --- recipes (paper Tables 1-2; REFERENCE-FL; docs/forward-learning.md): found as {method}-{arch}-{data} ---
# PFF (Ororbia & Mali 2023): n = 2000, K = 12, Adam lr 2.5e-4 with clipping +-1, batch 500 (+500
# negatives), 60 epochs (the authors keep the best dev model). Adam = AdamW with weight_decay 0.
_PFF = dict(arch="pff", batch_size=500, epochs=60, optimizer="adamw", lr=2.5e-4, weight_decay=0.0,
            schedule="constant", width=2000, augment=False)
for _d in ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100"):
    register_preset(f"pff-pff-{_d}", f"PFF on its 2x2000 circuit, {_d}: K=12, Adam 2.5e-4, clip 1, batch 500, 60 ep",
            **_PFF, data=_d)
