"""Lean exact layers (models/lean.py, models/bn_act.py, models/fused.py): the same outputs and gradients as the
plain torch layers, in train and eval mode, with less kept for backward (counted)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dcl.bench import SavedTensorMeter
from dcl.models.fused import LeanSequential, layer_norm_linear
from dcl.models.bn_act import BatchNormAct1d, BatchNormAct2d
from dcl.models.lean import LeanDropout, LeanDropout2d, LeanMaxPool2d, pack_bits, unpack_bits
from dcl.models.layers import Tap
from tiny import spec_of

TOL = dict(rtol=1e-5, atol=1e-6)


def run(layer, x, seed=0, grad_seed=1):
    """Output, input gradient and parameter gradients of ``layer`` on ``x`` (a fresh leaf)."""
    x = x.detach().clone().requires_grad_(True)
    torch.manual_seed(seed)
    out = layer(x)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed)).to(out.dtype)
    out.backward(g)
    grads = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad(set_to_none=True)
    return out.detach(), x.grad, grads


def saved_bytes(layer, x):
    x = x.detach().clone().requires_grad_(True)
    with SavedTensorMeter(exclude=[*layer.parameters(), *layer.buffers()]) as m:
        out = layer(x * 1)  # (x * 1: the input is not a leaf, as inside a network)
    del out
    return m.peak_bytes


def assert_same(a, b, **tol):
    tol = tol or TOL
    (oa, ga, pa), (ob, gb, pb) = a, b
    assert torch.allclose(oa, ob, **tol)
    assert torch.allclose(ga, gb, **tol)
    assert len(pa) == len(pb) and all(torch.allclose(u, v, **tol) for u, v in zip(pa, pb))


# --- dropout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lean, plain, shape", [(LeanDropout, nn.Dropout, (6, 5, 7)),
                                                (LeanDropout2d, nn.Dropout2d, (6, 5, 4, 4))])
def test_lean_dropout_draws_the_same_mask_and_keeps_one_byte(lean, plain, shape):
    x = torch.randn(*shape)
    for p in (0.0, 0.3, 0.9):
        a, b = lean(p).train(), plain(p).train()
        assert_same(run(a, x), run(b, x))
        assert torch.equal(a.eval()(x), b.eval()(x))  # eval: the identity
    a, b = lean(0.3).train(), plain(0.3).train()
    dropped = (run(a, x)[0] == 0).float().mean()
    assert 0.15 < float(dropped) < 0.45
    mask = x.numel() if lean is LeanDropout else shape[0] * shape[1]
    assert saved_bytes(a, x) == mask  # bool: one byte per element (per channel)
    assert saved_bytes(b, x) == 4 * mask  # torch's CPU dropout keeps float32


# --- max-pool ------------------------------------------------------------------------------------
def test_pack_bits_round_trip():
    for bits in (1, 2, 4, 8):
        v = torch.randint(0, 2 ** bits, (37,), dtype=torch.uint8)
        packed = pack_bits(v, bits)
        assert packed.numel() == -(-37 * bits // 8)
        assert torch.equal(unpack_bits(packed, bits, 37), v)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=1), dict(kernel_size=3, stride=3, dilation=2),
                                dict(kernel_size=2, ceil_mode=True), dict(kernel_size=(2, 3), stride=(2, 3))])
def test_lean_maxpool_equals_maxpool(kw):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 11, 13).relu()  # ReLU'd: many tied zeros inside windows
    x[0, 0, :4, :4] = 1.0  # ties at a positive value too
    assert_same(run(LeanMaxPool2d(**kw), x), run(nn.MaxPool2d(**kw), x), rtol=0, atol=0)
    xc = x.contiguous(memory_format=torch.channels_last)
    out, gx, _ = run(LeanMaxPool2d(**kw), xc)
    assert_same((out, gx, []), run(nn.MaxPool2d(**kw), x), rtol=0, atol=0)


def test_lean_maxpool_keeps_two_bits_per_output():
    x = torch.randn(4, 8, 16, 16)
    assert saved_bytes(LeanMaxPool2d(2), x) == 4 * 8 * 8 * 8 // 4  # 2 bits per pooled output
    assert saved_bytes(nn.MaxPool2d(2), x) == x.numel() * 4 + 4 * 8 * 8 * 8 * 8  # input + int64 indices


# --- BatchNorm + activation ------------------------------------------------------------------------
def plain_bn_act(bn, activation):
    act = {"relu": nn.ReLU(inplace=True), "leaky_relu": nn.LeakyReLU(0.01, inplace=True), "tanh": nn.Tanh()}[activation]
    return nn.Sequential(bn, act)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
@pytest.mark.parametrize("fused, plain, shape", [(BatchNormAct2d, nn.BatchNorm2d, (8, 6, 5, 5)),
                                                 (BatchNormAct1d, nn.BatchNorm1d, (16, 6))])
def test_batchnorm_act_equals_batchnorm_then_activation(activation, fused, plain, shape):
    torch.manual_seed(0)
    lean = fused(shape[1], activation=activation)
    with torch.no_grad():
        lean.weight.uniform_(-1.5, 1.5)
        lean.bias.normal_()
    ref = plain_bn_act(plain(shape[1]), activation)
    ref[0].load_state_dict(lean.state_dict())  # same keys: weight, bias, running stats, counter
    assert set(lean.state_dict()) == set(ref[0].state_dict())
    x = torch.randn(*shape) * 2 + 0.5
    for mode in ("train", "train", "eval"):
        lean.train(mode == "train")
        ref.train(mode == "train")
        assert_same(run(lean, x), run(ref, x))
        for k, v in ref[0].state_dict().items():  # running statistics updated identically
            assert torch.allclose(lean.state_dict()[k].float(), v.float(), **TOL), k
    if shape[2:]:
        xc = x.contiguous(memory_format=torch.channels_last)
        lean.train(), ref.train()
        assert_same(run(lean, xc), run(ref, xc), rtol=1e-4, atol=1e-5)
    lean.train()
    per_channel = 2 * shape[1] * 4  # mean and 1/std
    assert saved_bytes(lean, x) == x.numel() * 4 + per_channel  # its input only
    assert saved_bytes(ref.train(), x) == 2 * x.numel() * 4 + per_channel  # BN's input + activation's output


def test_batchnorm_act_momentum_none_bfloat16_and_errors():
    lean, ref = BatchNormAct2d(4, momentum=None), plain_bn_act(nn.BatchNorm2d(4, momentum=None), "relu")
    x = torch.randn(5, 4, 3, 3)
    for _ in range(3):
        assert_same(run(lean, x), run(ref, x))
    assert torch.allclose(lean.running_var, ref[0].running_var) and int(lean.num_batches_tracked) == 3
    xb = x.bfloat16()
    lean_b, ref_b = BatchNormAct2d(4), plain_bn_act(nn.BatchNorm2d(4), "relu")
    out, gx, gp = run(lean_b, xb)
    rout, rgx, rgp = run(ref_b, xb)
    assert out.dtype == torch.bfloat16 and torch.allclose(out.float(), rout.float(), atol=1e-2)
    assert torch.allclose(gx.float(), rgx.float(), atol=2e-2)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNormAct1d(4)(torch.randn(1, 4))
    with pytest.raises(ValueError, match="activation"):
        BatchNormAct2d(4, activation="swish")


# --- fused LayerNorm -> Linear -----------------------------------------------------------------------
def ln_linear(d=24, o=10, bias=True):
    torch.manual_seed(0)
    norm, lin = nn.LayerNorm(d), nn.Linear(d, o, bias=bias)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
    return norm, lin


@pytest.mark.parametrize("case", ["plain", "zero-gamma", "tiny-gamma", "no-bias", "tokens"])
def test_fused_layernorm_linear_parameter_gradients_equal_autograd(case):
    norm, lin = ln_linear(bias=case != "no-bias")
    if case in ("zero-gamma", "tiny-gamma"):
        with torch.no_grad():
            norm.weight[[1, 5]] = 0.0 if case == "zero-gamma" else 1e-20
    x = torch.randn(*((3, 7, 24) if case == "tokens" else (16, 24)))  # the detached input of a local block
    g = torch.randn(*x.shape[:-1], 10)
    params = [p for p in (*norm.parameters(), *lin.parameters())]
    ref_out = lin(norm(x))
    ref = torch.autograd.grad(ref_out, params, g)
    out = layer_norm_linear(x, norm, lin)
    assert out.grad_fn is not None and "LayerNormLinear" in type(out.grad_fn).__name__
    got = torch.autograd.grad(out, params, g)
    assert torch.equal(out, ref_out)  # the forward runs the plain layers' kernels
    for r, v in zip(ref, got):
        assert torch.allclose(r, v, rtol=1e-5, atol=1e-6)


def test_fused_layernorm_linear_keeps_one_tensor_and_falls_back_when_the_input_needs_grad():
    norm, lin = ln_linear(d=64, o=64)
    x = torch.randn(32, 64)
    exclude = [*norm.parameters(), *lin.parameters()]
    with SavedTensorMeter(exclude=exclude) as m:
        out = layer_norm_linear(x, norm, lin)
    assert m.peak_bytes == x.numel() * 4 + 2 * 32 * 4  # x and per-row mean, 1/std
    with SavedTensorMeter(exclude=exclude) as m2:
        ref = lin(norm(x))
    assert m2.peak_bytes == 2 * x.numel() * 4 + 2 * 32 * 4  # the LayerNorm's input, the Linear's input
    del out, ref
    xg = x.clone().requires_grad_(True)  # under BP: the plain layers, which give the input gradient
    layer_norm_linear(xg, norm, lin).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


def test_lean_sequential_runs_pairs_fused_and_reads_taps():
    norm, lin = ln_linear(d=16, o=16)
    seq = LeanSequential(norm, lin, nn.ReLU(), Tap("act"), nn.Dropout(0.0))
    plain = nn.Sequential(*copy.deepcopy(list(seq)))
    assert [n for n, _ in seq.named_parameters()] == [n for n, _ in plain.named_parameters()] == \
        ["0.weight", "0.bias", "1.weight", "1.bias"]
    x = torch.randn(8, 16)
    out, feat = seq.forward_tap(x, "act")
    assert torch.equal(out, plain(x)) and torch.equal(feat, out)
    assert "LayerNormLinear" in type(seq(x).grad_fn.next_functions[0][0]).__name__
    seq(x).square().sum().backward()
    plain(x).square().sum().backward()
    for a, b in zip(seq.parameters(), plain.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-6)


def test_lean_layers_under_autocast_match_the_plain_layers():
    """bf16 autocast (CPU here; CUDA in the cuda subset): fused layers defer to the plain ones."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    lean = nn.Sequential(conv, BatchNormAct2d(4), LeanMaxPool2d(2), LeanDropout2d(0.0))
    plain = nn.Sequential(copy.deepcopy(conv), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    norm, lin = ln_linear(d=16, o=8)
    x = torch.randn(4, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a, b = run(lean, x), run(plain, x)
        out = layer_norm_linear(torch.randn(4, 16), norm, lin)
    assert a[0].dtype == b[0].dtype
    assert_same(a, b, rtol=1e-2, atol=1e-2)
    assert "LayerNormLinear" not in type(out.grad_fn).__name__


@pytest.mark.parametrize("arch, shape", [("fc", (1, 28, 28)), ("conv", (1, 28, 28)), ("vgg8b", (1, 28, 28))])
def test_lean_networks_keep_parameter_names_and_load_plain_checkpoints(arch, shape):
    from dcl.config import TrainConfig
    from dcl.models import build_model

    cfg = TrainConfig(arch=arch, width=64, segments=4, channels=(8, 16), dropout=0.1)
    torch.manual_seed(0)
    plain = build_model(cfg.replace(lean_layers=False), spec_of(shape, 10))
    lean = build_model(cfg, spec_of(shape, 10))
    assert not any(isinstance(m, (BatchNormAct2d, LeanMaxPool2d, LeanSequential)) for m in plain.modules())
    assert any(isinstance(m, (LeanDropout, LeanDropout2d)) for m in lean.modules())
    sd = plain.state_dict()
    assert list(lean.state_dict()) == list(sd)  # a checkpoint written with torch's layers loads as is
    lean.load_state_dict(sd)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        assert torch.allclose(lean.eval()(x), plain.eval()(x), rtol=1e-5, atol=1e-5)
