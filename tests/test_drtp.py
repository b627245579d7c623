"""DRTP: the hand-computed update of a hidden layer, no backward pass across layers, fixed
feedback matrices that never change, frozen conv layers, learning on real MNIST."""
import pytest
import torch

from dcl import resolve_config, train
from dcl.methods import build_method
from dcl.models import build_model
from dcl.engine import build_run

from conftest import layer_gradient_sources, own_layer, small_dataset
from tiny import MNIST, spec_of, tiny_config


def sgd_cfg(arch="drtp-fc", **kw):
    """DRTP on a 3-unit network with plain SGD (the by-hand updates below)."""
    return tiny_config("drtp", arch, **{"width": 3, "optimizer": "sgd", "lr": 0.1, "momentum": 0.0, "nesterov": False,
                                        "weight_decay": 0.0, "dropout": 0.0, "schedule": "constant", **kw})


def test_hidden_layer_update_is_the_projected_target_by_hand():
    cfg = sgd_cfg()
    torch.manual_seed(0)
    net = build_model(cfg, spec_of((1, 2, 2), 2))
    method = build_method(net, cfg)
    b1 = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])        # B_1 (Z=2, 3 units)
    method.aux.feedback[0].weight.copy_(b1)
    lin = net.blocks[0][2]
    w0, bias0 = lin.weight.detach().clone(), lin.bias.detach().clone()
    x = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]], [[[1.0, 1.0], [-0.5, 0.25]]]])
    y = torch.tensor([1, 0])
    xf = x.flatten(1)
    h = torch.tanh(xf @ w0.t() + bias0)                            # (2, 3)
    delta = torch.eye(2)[y] @ b1 * (1 - h ** 2)                    # y* B_1 gated by tanh'
    method.train_step(x, y)
    assert torch.allclose(lin.weight, w0 - 0.1 * delta.t() @ xf, atol=1e-6)   # summed over the batch
    assert torch.allclose(lin.bias, bias0 - 0.1 * delta.sum(0), atol=1e-6)


@pytest.mark.parametrize("arch, extra", [("drtp-fc", {}), ("drtp-conv", {}), ("fc", {"segments": 1}),
                                         ("conv", {"channels": (4, 8)})])
def test_no_backward_pass_across_layers(arch, extra):
    cfg = sgd_cfg(arch, width=16, **extra)
    torch.manual_seed(0)
    net = build_model(cfg, MNIST)
    method = build_method(net, cfg)
    sources, inputs_need_grad = layer_gradient_sources(method, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    assert inputs_need_grad == [False] * (len(net.blocks) + 1)     # every layer reads a detached input
    for name, _ in net.named_parameters():
        assert sources[name] == {own_layer(name)}, name


def test_feedback_matrices_are_fixed_buffers_that_never_change(mnist):
    run = build_run(sgd_cfg(width=32, lr=1e-3, batch_size=64), dataset=small_dataset(mnist, 256, 64))
    fb = run.method.aux.feedback
    assert [tuple(f.weight.shape) for f in fb] == [(10, 32), (10, 32)]
    assert list(run.method.aux.parameters()) == []
    in_opts = {id(p) for o in run.method.optimizers for g in o.param_groups for p in g["params"]}
    assert all(id(f.weight) not in in_opts for f in fb)
    before = [f.weight.clone() for f in fb]
    w_before = run.net.blocks[0][2].weight.detach().clone()
    for x, y in run.train_loader():
        run.method.train_step(x, y)
    assert all(torch.equal(b, f.weight) for b, f in zip(before, fb))
    assert not torch.equal(w_before, run.net.blocks[0][2].weight)
    # conv: B has the pre-pool shape of the layer (the Tap before MaxPool)
    conv = build_method(build_model(sgd_cfg("drtp-conv"), spec_of((3, 32, 32), 100)), sgd_cfg("drtp-conv"))
    assert [tuple(f.weight.shape) for f in conv.aux.feedback] == [(100, 64, 32, 32), (100, 256, 16, 16), (100, 3)]


def test_frozen_conv_layers_never_change():
    cfg = sgd_cfg("drtp-conv", width=8, drtp_freeze_conv=True)
    net = build_model(cfg, MNIST)
    method = build_method(net, cfg)
    conv = net.blocks[0][0]
    before = conv.weight.detach().clone()
    assert method.block_opts[0] is None and not conv.weight.requires_grad
    for _ in range(2):
        method.train_step(torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,)))
    assert torch.equal(before, conv.weight)


def test_drtp_learns_on_real_mnist(mnist):
    data = small_dataset(mnist, 2048, 500)
    # the repo's recipe (SGD Nesterov) at a larger lr and CE output, to learn in 192 steps
    s = train(resolve_config(arch="drtp-fc", data="mnist", method="drtp", epochs=3, width=256, batch_size=32,
                             lr=1e-3, drtp_loss="ce"), dataset=data)
    assert s["test_error"] < 30.0, s["test_error"]                 # chance: 90 %
