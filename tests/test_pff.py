"""PFF: one state update and the per-layer loss by hand, lateral competition, K clipped updates
per batch, locality, lowest-energy inference over every label, the optional generative circuit."""
import math

import pytest
import torch
from torch import nn

import dcl.methods.pff as pff_mod
from dcl import resolve_config
from dcl.errors import DCLError
from dcl.losses import pff_energy_loss
from dcl.methods import build_method
from dcl.models import build_model
from dcl.models.base import BlockSpec
from dcl.models.pff import PFFHead, PFFLayer, PFFNet, unit_norm

from tiny import MNIST, tiny_config


def tiny_net(generator=None) -> PFFNet:
    """in 3 -> 4 -> 4 units (groups of 2), 2 classes; weights set by hand below."""
    l1 = PFFLayer(3, 4, 4, 2, inputs=nn.Flatten())
    l2 = PFFLayer(4, 4, 2, 2)
    with torch.no_grad():
        l1.W.copy_(torch.eye(3, 4))
        l1.b.copy_(torch.tensor([0.1, 0.1, -0.1, 0.0]))
        l1.V.copy_(torch.eye(4))
        l1.L.fill_(0.5)
        l1.L[0, 1] = -1.0       # relu(L) -> 0: no inhibition from unit 0 on unit 1
        l1.L[0, 2] = 7.0        # outside the groups: must have no effect (mask M)
        l2.W.copy_(torch.eye(4))
        l2.b.zero_()
        l2.V.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.1, 0.0, 0.0]]))
        l2.L.zero_()
    return PFFNet([l1, l2], PFFHead(4, 2), [BlockSpec(4, "flat", 1)] * 2, generator=generator, num_classes=2,
                  in_shape=(3,), name="pff")


def cfg(**kw):
    """PFF's circuit at 4 units in groups of 2, TrainConfig's defaults otherwise (the by-hand tests)."""
    return tiny_config("pff", "pff", preset=False, epochs=None, width=4, pff_group=2, optimizer="adamw",
                       weight_decay=0.0, lr=1e-3, schedule="constant", **kw)


def test_one_state_update_and_layer_loss_by_hand():
    method = build_method(tiny_net(), cfg())
    x_in = unit_norm(torch.tensor([[3.0, 0.0, 4.0]]))              # [0.6, 0, 0.8]
    z1p, z2p = torch.tensor([[1.0, 0.0, 0.0, 2.0]]), torch.tensor([[0.0, 3.0, 0.0, 4.0]])
    ys = 5.0 * torch.tensor([[0.0, 1.0]])                           # label 1, y_s = 5 one-hot
    with torch.no_grad():
        z1, z2 = method.step(x_in, ys, z1p, z2p, noise=0.0)
    # layer 1: ν(x)W1 = [.6, 0, .8, 0]; ν(z2')V2 = [0, .6, 0, .8]; b1 = [.1, .1, -.1, 0];
    # z1'Λ1 per group of 2: Λ = [[-.5, 0], [.5, -.5]] and [[-.5, .5], [.5, -.5]] -> [-.5, 0, 1, -1]
    a1 = [0.6 + 0.1 + 0.5, 0.6 + 0.1, 0.8 - 0.1 - 1.0, 0.8 + 1.0]   # [1.2, .7, -.3, 1.8]
    want_z1 = [0.7 * max(a, 0.0) + 0.3 * p for a, p in zip(a1, [1.0, 0.0, 0.0, 2.0])]
    assert z1[0].tolist() == pytest.approx(want_z1, abs=1e-6)       # [1.14, .49, 0, 1.86]
    # layer 2: ν(z1')W2 = [1, 0, 0, 2]/sqrt 5; y_s V = [0, .5, 0, 0]; no bias, no lateral
    r5 = math.sqrt(5.0)
    a2 = [1 / r5, 0.5, 0.0, 2 / r5]
    want_z2 = [0.7 * max(a, 0.0) + 0.3 * p for a, p in zip(a2, [0.0, 3.0, 0.0, 4.0])]
    assert z2[0].tolist() == pytest.approx(want_z2, abs=1e-6)
    # per-layer loss: logit = theta - sum z^2, BCE against "positive"
    energy = sum(v * v for v in want_z1)
    loss = pff_energy_loss(z1, torch.ones(1), threshold=10.0)
    assert float(loss) == pytest.approx(math.log1p(math.exp(-(10.0 - energy))), rel=1e-5)
    neg = pff_energy_loss(z1, torch.zeros(1), threshold=10.0)
    assert float(neg) == pytest.approx(math.log1p(math.exp(10.0 - energy)), rel=1e-5)


def test_lateral_equals_the_masked_matrix():
    layer = PFFLayer(5, 6, 6, 3)
    with torch.no_grad():
        layer.L.normal_()
    relu_l = torch.relu(layer.L)
    mask = torch.block_diag(*[torch.ones(3, 3)] * 2)
    lam = relu_l * mask * (1 - torch.eye(6)) - relu_l * torch.eye(6)
    z = torch.randn(4, 6)
    assert torch.allclose(layer.lateral(z), z @ lam, atol=1e-6)


def test_each_layer_loss_reaches_only_its_layer():
    method = build_method(tiny_net(), cfg())
    net = method.net
    x_in = unit_norm(torch.rand(5, 3))
    ys = 5 * torch.eye(2)[torch.tensor([0, 1, 1, 0, 1])]
    z1, z2 = method.initial_states(x_in)
    z1n, z2n = method.step(x_in, ys, z1, z2, noise=0.01)
    params = list(net.parameters())
    for i, z in enumerate((z1n, z2n)):
        grads = torch.autograd.grad(pff_energy_loss(z, torch.ones(5)), params, allow_unused=True)
        reached = {id(p) for p, g in zip(params, grads) if g is not None}
        assert reached == {id(p) for p in net.blocks[i].parameters()}, i


@pytest.mark.parametrize("generative, per_step", [(False, 3), (True, 4)])
def test_k_clipped_updates_per_batch(monkeypatch, generative, per_step):
    c = cfg(pff_steps=5, pff_generative=generative, pff_latent=3)
    net = build_model(c.replace(width=20, pff_group=10), MNIST)
    assert (net.generator is not None) == generative
    method = build_method(net, c)
    calls = []
    orig = method.optimizer_step
    monkeypatch.setattr(method, "optimizer_step", lambda opt, clip_value=None: (calls.append(clip_value),
                                                                                  orig(opt, clip_value)))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    out = method.train_step(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    assert calls == [1.0] * (5 * per_step)
    assert out["block_losses"].shape == (2,) and torch.isfinite(out["loss"])
    assert all(not torch.equal(before[n], p) for n, p in net.named_parameters())


def test_inference_scores_every_label_by_lowest_energy(monkeypatch):
    c = cfg(pff_eval_steps=4)
    torch.manual_seed(0)
    net = build_model(c.replace(width=20, pff_group=10), MNIST)
    method = build_method(net, c)
    x = torch.randn(6, 1, 28, 28)
    with torch.no_grad():
        out = method.predict_batch(x)
        x_in = unit_norm(net.pixels(x))
        for label in (0, 7, 9):
            z1, z2 = method.initial_states(x_in)
            ys = 5 * torch.eye(10)[torch.full((6,), label)]
            energies = []
            for _ in range(4):
                z1, z2 = method.step(x_in, ys, z1, z2, 0.0)
                energies.append(z1.square().sum(1) + z2.square().sum(1))
            want = -(energies[2] + energies[3]) / 2 / 2   # -(Σz1² + Σz2²)/2, mean over the last two steps
            assert torch.allclose(out.extra["energy"][:, label], want, atol=1e-4)
        monkeypatch.setattr(pff_mod, "INFERENCE_ROWS", 7)  # one label per pass: the same scores
        again = method.predict_batch(x)
    assert torch.allclose(again.extra["energy"], out.extra["energy"], atol=1e-5)
    assert torch.allclose(out.blocks[0] + out.blocks[1], out.extra["energy"], atol=1e-5)
    assert out.head.shape == (6, 10) and method.default_prediction == "energy"


def test_pff_needs_its_own_network():
    c = resolve_config(arch="fc", data="mnist", method="pff", width=64, segments=4)
    with pytest.raises(DCLError, match="--arch pff"):
        build_method(build_model(c, MNIST), c)
    with pytest.raises(DCLError, match="multiple of"):
        build_model(cfg().replace(width=25, pff_group=10), MNIST)
