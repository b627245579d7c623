"""Forward-Forward and SymBa: label overlay, negatives never carry the true label, no gradient
crosses a layer, goodness inference enumerates every label, learning on real MNIST."""
import pytest
import torch

from dcl import train
from dcl.losses import ff_loss, goodness, symba_loss
from dcl.methods import build_method
from dcl.methods.label_overlay import hard_wrong_labels, overlay, pixel_bounds, rms_normalize, wrong_labels
from dcl.models import build_model

from conftest import layer_gradient_sources, own_layer, small_dataset
from tiny import MNIST, tiny_config


def tiny(method="ff", arch="fc", **kw):
    return tiny_config(method, arch, **{"batch_size": 16, **kw})


def built(method="ff", arch="fc", **kw):
    cfg = tiny(method, arch, **kw)
    torch.manual_seed(0)
    return build_method(build_model(cfg, MNIST), cfg, data=MNIST)


def test_wrong_labels_are_never_the_true_label_and_cover_all_others():
    torch.manual_seed(0)
    y = torch.arange(10).repeat(2000)
    neg = wrong_labels(y, 10)
    assert not (neg == y).any()
    for c in range(10):  # uniform over the 9 wrong labels
        counts = torch.bincount(neg[y == c], minlength=10)
        assert counts[c] == 0 and (counts[torch.arange(10) != c] > 150).all()
    # hard negatives: drawn from the model's probabilities, never the true label even where it has all the mass
    probs = torch.zeros(len(y), 10)
    probs[torch.arange(len(y)), y] = 1.0
    hard = hard_wrong_labels(y, probs)
    assert not (hard == y).any()
    probs[:, 3] = 5.0                                # all wrong mass on label 3
    hard = hard_wrong_labels(y, probs)
    assert (hard[y != 3] == 3).all() and not (hard == y).any()


def test_overlay_writes_the_label_in_pixel_units():
    lo, hi = pixel_bounds(MNIST)                     # MNIST is normalised (p - 0.5) / 0.5
    assert (lo, hi) == (-1.0, 1.0)
    x = torch.zeros(2, 1, 28, 28)
    code = torch.tensor([[0.0] * 9 + [1.0], [0.1] * 10])
    out = overlay(x, code, (lo, hi))
    assert out[0, 0, 0, :10].tolist() == [-1.0] * 9 + [1.0]
    assert out[1, 0, 0, :10].tolist() == pytest.approx([-0.8] * 10)
    assert torch.equal(out[:, :, 1:], x[:, :, 1:]) and torch.equal(x, torch.zeros(2, 1, 28, 28))
    v = torch.randn(3, 5) * 7
    assert torch.allclose(rms_normalize(v).square().mean(1), torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("method", ["ff", "symba"])
def test_a_training_step_uses_true_wrong_and_neutral_labels(method, monkeypatch):
    m = built(method, ff_negatives="hard" if method == "symba" else "random")
    codes = []
    orig = m.labelled
    monkeypatch.setattr(m, "labelled", lambda x, code: (codes.append(code), orig(x, code))[1])
    y = torch.randint(0, 10, (64,))
    out = m.train_step(torch.randn(64, 1, 28, 28), y)
    code = codes[-1]
    assert torch.equal(code[:64].argmax(1), y)                        # positives: the true label
    assert not (code[64:128].argmax(1) == y).any()                    # negatives: never the true label
    assert torch.equal(code[64:128].sum(1), torch.ones(64))
    assert torch.allclose(code[128:], torch.full((64, 10), 0.1))       # neutral: 1/Z everywhere
    assert out["block_losses"].shape == (2,)


def test_layer_losses_are_ff_and_symba_on_the_goodness():
    h = torch.relu(torch.randn(12, 5))                                 # [pos; neg; neutral] of B = 4
    y = torch.zeros(4, dtype=torch.long)
    g = goodness(h)
    ff = built("ff", ff_goodness="sum")
    assert torch.allclose(ff.block_loss(0, h, y), ff_loss(g[:4], g[4:8], 5.0))      # theta = 5 units
    mean = goodness(h, "mean")
    ff_mean = built("ff")                                                            # default: mean, theta 2
    assert torch.allclose(ff_mean.block_loss(0, h, y), ff_loss(mean[:4], mean[4:8], 2.0))
    ff_t = built("ff", ff_threshold=2.5)
    assert torch.allclose(ff_t.block_loss(0, h, y), ff_loss(mean[:4], mean[4:8], 2.5))
    sym = built("symba")
    assert torch.allclose(sym.block_loss(0, h, y), symba_loss(mean[:4], mean[4:8], 4.0))


@pytest.mark.parametrize("arch", ["fc", "conv"])
def test_no_gradient_crosses_a_layer(arch):
    m = built("ff", arch)
    sources, inputs_need_grad = layer_gradient_sources(m, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    assert not any(inputs_need_grad)                                  # every layer reads a detached input
    for name, _ in m.net.named_parameters():
        assert sources[name] == {own_layer(name)}, name


@pytest.mark.parametrize("arch", ["fc", "conv"])
def test_goodness_inference_enumerates_every_label(arch):
    m = built("ff", arch)
    net = m.net
    net.eval()
    x = torch.randn(5, 1, 28, 28)
    passes = []
    hook = net.blocks[0][0].register_forward_pre_hook(lambda mod, a: passes.append(a[0].shape[0]) and None)
    with torch.no_grad():
        out = m.predict_batch(x)
    hook.remove()
    assert passes == [5] * 11                                           # Z label passes + the neutral one
    assert out.extra["goodness"].shape == (5, 10) and len(out.blocks) == 2 and out.head.shape == (5, 10)
    with torch.no_grad():
        for c in range(10):                                             # each column: label c overlaid
            h = overlay(x, torch.eye(10)[torch.full((5,), c)], m.bounds)
            total = torch.zeros(5)
            for i in range(2):
                h, a = net.block_forward(i, rms_normalize(h), "act")
                g = goodness(a, m.cfg.ff_goodness)
                assert torch.allclose(out.blocks[i][:, c], g, rtol=1e-5)
                total += g
            assert torch.allclose(out.extra["goodness"][:, c], total, rtol=1e-5)
    skip = built("ff", arch, ff_score_layers="skip-first")
    skip.net.eval()
    with torch.no_grad():
        s = skip.predict_batch(x)
    assert torch.allclose(s.extra["goodness"], s.blocks[1])


@pytest.mark.parametrize("method", ["ff", "symba"])
def test_learns_on_real_mnist(mnist, method):
    # 256 steps: far from trained (FF needs thousands), but layer 1's goodness ranks the labels
    s = train(tiny(method, epochs=2, width=128, batch_size=16, lr=1e-3, ff_goodness="mean"),
              dataset=small_dataset(mnist, 2048, 500))
    assert s["layer_test_errors"][0] < 60.0, (method, s["layer_test_errors"])   # chance: 90 %
