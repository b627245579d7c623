"""The local-learning baselines as methods: gradient isolation on every network, each block's
optimizer, LL-bpf's fixed matrices, exact resume, layer-wise predictions and the preset rules."""
import json
import warnings

import pytest
import torch

from torch import nn

import dcl.models.vgg as vgg
from dcl import resolve_config, train
from dcl.config import PRESETS, TrainConfig
from dcl.methods import METHODS
from dcl.errors import DCLNote
from dcl.methods import build_method
from dcl.methods.ll_aux import aux_input
from dcl.models import build_model, make_local
from dcl.models.mixer import mlp_mixer
from dcl.models.resnet import cifar_resnet
from dcl.models.vit import vit

from conftest import small_dataset
from test_engine import record_gradient_sources
from tiny import spec_of

LL_METHODS = ["feat", "ll-cont", "ll-contrec", "ll-pred", "ll-sim", "ll-predsim", "ll-bpf"]
ARCHS = ["fc", "conv", "vgg8b", "resnet32", "resnet32-w", "vit", "mlp-mixer", "make_local"]


def tiny_net(arch: str, monkeypatch) -> tuple[nn.Module, tuple[int, int, int]]:
    """Each network family at a tiny width / input (same code paths as the paper's sizes)."""
    torch.manual_seed(0)
    if arch == "fc":
        return build_model(TrainConfig(arch="fc", width=32, segments=4), spec_of((1, 12, 12), 10)), (1, 12, 12)
    if arch == "conv":
        return build_model(TrainConfig(arch="conv", channels=(4, 8)), spec_of((1, 12, 12), 10)), (1, 12, 12)
    if arch == "vgg8b":  # VGG8B's structure (6 conv blocks, pools, FC block) with small channels
        monkeypatch.setattr(vgg, "VGG8B_CONVS", ((4, False), (8, True), (8, False), (16, True), (16, True), (16, True)))
        monkeypatch.setattr(vgg, "VGG8B_FC_WIDTH", 32)
        return build_model(TrainConfig(arch="vgg8b", dropout=0.1), spec_of((3, 16, 16), 10)), (3, 16, 16)
    if arch in ("resnet32", "resnet32-w"):  # their widths, one residual block per stage (5 in the paper's)
        widths = (16, 16, 32, 64) if arch == "resnet32" else (64, 64, 128, 256)
        return cifar_resnet((3, 8, 8), 10, widths=widths, blocks_per_stage=1, name=arch), (3, 8, 8)
    if arch == "vit":
        return vit((3, 8, 8), 10, dim=16, depth=2, heads=2, patch=4), (3, 8, 8)
    if arch == "mlp-mixer":
        return mlp_mixer((3, 8, 8), 10, dim=16, depth=2, patch=4, token_hidden=8, channel_hidden=32), (3, 8, 8)
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, 2, 1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 6 * 6, 16), nn.ReLU(), nn.Linear(16, 10))
    return make_local(seq, split_after=[1, 3, 6], in_shape=(1, 12, 12)), (1, 12, 12)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method_name", LL_METHODS)
def test_no_gradient_crosses_a_block_boundary(method_name, arch, monkeypatch):
    net, shape = tiny_net(arch, monkeypatch)
    cfg = TrainConfig(method=method_name, aux_dim=64, proj_dim=8, data="cifar10" if shape[0] == 3 else "mnist")
    method = build_method(net, cfg)
    x, y = torch.randn(8, *shape), torch.tensor([0, 1, 2, 0, 1, 2, 3, 3])
    sources = record_gradient_sources(method, x, y)
    for name, _ in net.named_parameters():
        expected = {f"block {name.split('.')[1]}"} if name.startswith("blocks.") else {"head"}
        assert sources.get(name) == expected, name
    for name, _ in method.aux.named_parameters():  # aux.<kind>.<block>.<...>: only that block's loss
        assert sources.get(f"aux.{name}") == {f"block {name.split('.')[1]}"}, name
    # each block's optimizer holds exactly the block and its own auxiliary parameters
    for i, opt in enumerate(method.block_opts):
        ids = {id(p) for g in opt.param_groups for p in g["params"]}
        own = {id(p) for n, p in method.aux.named_parameters() if n.split(".")[1] == str(i)}
        assert ids == {id(p) for p in net.blocks[i].parameters()} | own
    if method_name == "feat":
        assert not list(method.aux.parameters())


def test_ll_bpf_fixed_matrices_never_change_and_no_transposed_forward_weights(monkeypatch):
    net, shape = tiny_net("vgg8b", monkeypatch)
    method = build_method(net, TrainConfig(method="ll-bpf", aux_dim=64, proj_dim=8, data="cifar10"))
    fixed = {n: b.clone() for n, b in method.aux.named_buffers()}
    assert sorted({n.split(".")[0] for n in fixed}) == ["pred", "projections"]  # P and the FA matrices B
    assert count(method.aux) == sum(l.weight.numel() + l.bias.numel() for l in method.aux.pred)
    torch.manual_seed(1)
    x, y = torch.randn(8, *shape), torch.tensor([0, 1, 2, 0, 1, 2, 3, 3])
    before = [l.weight.clone() for l in method.aux.pred]
    for _ in range(3):
        method.train_step(x, y)
    assert all(torch.equal(b, dict(method.aux.named_buffers())[n]) for n, b in fixed.items())
    assert all(not torch.equal(b, l.weight) for b, l in zip(before, method.aux.pred))  # W trains
    # the prediction loss reaches block 1's activation through B, not through W^T
    method.cfg = method.cfg.replace(ll_beta=0.0)
    with torch.no_grad():
        h = net.block_forward(0, x, "act")[1]
        h = net.block_forward(1, net.blocks[0](x), "act")[1]
    h.requires_grad_(True)
    method.block_loss(1, h, y).backward()
    head, code = method.aux.pred[1], method.aux.projections[1](y)
    z = aux_input(h.detach().requires_grad_(True), 64)
    logits = z @ head.weight.t() + head.bias
    g = (torch.sigmoid(logits) - (code > 0).float()).detach() / logits.numel()  # d BCE / d logits
    via_b = torch.autograd.grad(aux_input(h, 64), h, g @ head.feedback)[0]
    via_w = torch.autograd.grad(aux_input(h, 64), h, g @ head.weight)[0]
    assert torch.allclose(h.grad, via_b, atol=1e-7)
    assert not torch.allclose(h.grad, via_w, atol=1e-7)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("method_name", LL_METHODS)
def test_checkpoints_resume_exactly(method_name, fashion_mnist, tmp_path):
    # Fashion-MNIST flips, channel dropout and (ll-sim) the class-limited order in epoch 1
    data = small_dataset(fashion_mnist, 128, 64)
    extra = dict(class_limited_epochs=1, class_limited_seeds=4) if method_name == "ll-sim" else {}
    if "aux_dim" in {o.name for o in METHODS.options(method_name)}:  # a field the method does not read is refused
        extra["aux_dim"] = 64
    cfg = resolve_config(arch="conv", data="fashion-mnist", method=method_name, epochs=2, batch_size=32,
                         channels=(4, 8), dropout=0.2, eval_batch_size=64, milestones=(1,), **extra)
    full = train(cfg, tmp_path / "full", dataset=data)
    train(cfg.replace(epochs=1), tmp_path / "cut", dataset=data)
    resumed = train(cfg, tmp_path / "cut", dataset=data, resume=True)
    for key in ("test_error", "layer_test_errors", "params", "delta_params", "epochs"):
        assert resumed[key] == full[key], key
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True) for d in ("full", "cut"))
    for part in ("net", "aux"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    losses = [[json.loads(l)["train_loss"] for l in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
              for d in ("full", "cut")]
    assert losses[0] == losses[1]
    assert len(a["aux"]) > 0 or method_name == "feat"


def test_prediction_heads_give_layerwise_predictions_on_real_mnist(mnist):
    # ll-pred's classifiers and ll-bpf's binary codes are each block's prediction (block:N)
    data = small_dataset(mnist, 1024, 500)
    for name in ("ll-pred", "ll-bpf"):
        s = train(resolve_config(arch="fc", data="mnist", method=name, epochs=2, batch_size=64, width=64,
                                 segments=4, eval_batch_size=500, lr=2e-3), dataset=data)
        errors = s["layer_test_errors"]
        assert len(errors) == 2 and all(e < 90.0 for e in errors), (name, errors)  # chance: 90 %
        # after 32 steps: the first block well above chance (feedback alignment is slower deeper down)
        assert errors[0] < 60.0 and (name == "ll-bpf" or errors[1] < 60.0), (name, errors)


def test_n_and_e_heads_start_at_zero_and_the_recipe_sets_them(monkeypatch):
    cfg = resolve_config(arch="vgg8b", data="cifar10", method="ll-predsim")
    assert (cfg.preset, cfg.optimizer, cfg.weight_decay, cfg.dropout, cfg.activation, cfg.aux_dim, cfg.ll_beta,
            cfg.zero_head) == ("ll-predsim-vgg8b-cifar10", "adam", 0.0, 0.2, "leaky_relu", 2048, 0.99, True)
    net, shape = tiny_net("vgg8b", monkeypatch)
    method = build_method(net, cfg.replace(aux_dim=64))
    assert all(torch.count_nonzero(h.weight) == 0 for h in method.aux.pred)
    assert torch.count_nonzero(net.head.weight) == 0
    assert method.head_loss_weight() == pytest.approx(0.01)
    assert resolve_config(arch="vgg8b", data="cifar100", method="ll-sim").class_limited_epochs == 200
    bpf = resolve_config(arch="vgg8b", data="cifar10", method="ll-bpf")
    assert (bpf.aux_dim, bpf.ll_beta, bpf.dropout) == (4096, 0.01, 0.05)
    assert resolve_config(arch="vgg8b", data="mnist", method="ll-cont").aux_dim == 1024
    assert resolve_config(arch="resnet32", data="cifar10", method="ll-cont").preset == "ll-cont-resnet32-cifar10"
    feat = resolve_config(arch="fc", data="mnist", method="feat")  # the pair's (DCL's) recipe, as the paper
    assert feat.preset == "fc-mnist" and feat.contrast_temperature == 0.07
    names = [n for n in PRESETS.names() if n.startswith("ll-")]
    assert len(names) == 6 * 6 + 4


def test_a_pair_without_preset_says_in_one_line_what_it_falls_back_to(capsys):
    with pytest.warns(DCLNote, match=r"no preset for ll-pred-vgg8b-kmnist or vgg8b-kmnist: using the defaults"):
        resolve_config(arch="vgg8b", data="kmnist", method="ll-pred")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DCLNote)
        resolve_config(arch="vgg8b", data="mnist", method="ll-pred")  # has a recipe: silent
    from dcl.cli import main
    assert main(["describe", "--arch", "conv", "--data", "kmnist", "--method", "ll-pred", "--set", "lr=0.1",
                 "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["preset"] is None
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dcl describe: note: no preset for ll-pred-conv-kmnist")
    assert "epochs=150" in lines[0] and "lr=" not in lines[0]  # the user's own lr is not a fallback
