"""The CUDA subset (``pytest -m cuda``; skipped without a CUDA device, run by benchmarks/gpu.sh):
the lean layers, the memory savers and the benchmark on the GPU, fp32 and bf16 autocast."""
import copy

import pytest
import torch
from torch import nn

from dcl.bench import bench_config, build_bench_run, run_benchmark
from dcl.models.fused import layer_norm_linear
from dcl.models.bn_act import BatchNormAct2d
from dcl.models.lean import LeanDropout, LeanDropout2d, LeanMaxPool2d

pytestmark = pytest.mark.cuda
CUDA = "cuda"


def grads(layer, x, seed=0):
    x = x.detach().clone().requires_grad_(True)
    torch.manual_seed(seed)
    out = layer(x)
    out.backward(torch.ones_like(out))
    ps = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad(set_to_none=True)
    return out.detach(), x.grad, ps


def close(a, b, tol=1e-4):
    return all(torch.allclose(u, v, rtol=tol, atol=tol) for u, v in zip([a[0], a[1], *a[2]], [b[0], b[1], *b[2]]))


def test_lean_layers_equal_the_plain_layers_on_cuda():
    torch.manual_seed(0)
    x = torch.randn(8, 6, 10, 10, device=CUDA)
    bn = BatchNormAct2d(6).to(CUDA)
    ref = nn.Sequential(nn.BatchNorm2d(6), nn.ReLU(inplace=True)).to(CUDA)
    assert close(grads(bn, x), grads(ref, x))
    assert torch.allclose(bn.running_var, ref[0].running_var, atol=1e-5)
    assert close(grads(LeanMaxPool2d(2), x.relu()), grads(nn.MaxPool2d(2), x.relu()), tol=0)
    for lean, plain in ((LeanDropout(0.3), nn.Dropout(0.3)), (LeanDropout2d(0.3), nn.Dropout2d(0.3))):
        assert close(grads(lean.train(), x), grads(plain.train(), x))  # same random stream, same mask
    norm, lin = nn.LayerNorm(32).to(CUDA), nn.Linear(32, 16).to(CUDA)
    h = torch.randn(4, 32, device=CUDA)
    ps = [*norm.parameters(), *lin.parameters()]
    ref_g = torch.autograd.grad(lin(norm(h)).square().sum(), ps)
    got_g = torch.autograd.grad(layer_norm_linear(h, norm, lin).square().sum(), ps)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(ref_g, got_g))


def test_lean_and_plain_networks_train_alike_on_cuda_in_bf16():
    losses = {}
    for lean in (True, False):
        run, x, y = build_bench_run(bench_config("vgg8b", "cifar10", "dcl", 16, CUDA, amp=True, lean_layers=lean,
                                                 dropout=0.0))
        losses[lean] = [run.method.train_step(x, y)["block_losses"].float().cpu() for _ in range(2)]
    for a, b in zip(losses[True], losses[False]):
        assert torch.allclose(a, b, rtol=5e-2, atol=5e-2)


def test_bp_ckpt_equals_bp_on_cuda():
    ref, x, y = build_bench_run(bench_config("conv", "cifar10", "bp", 8, CUDA, channels=(8, 16), dropout=0.2))
    ckpt = build_bench_run(bench_config("conv", "cifar10", "bp-ckpt", 8, CUDA, channels=(8, 16), dropout=0.2))[0]
    for run in (ref, ckpt):
        torch.manual_seed(0)
        run.method.train_step(x, y)
    for (name, a), b in zip(ref.net.state_dict().items(), ckpt.net.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


@pytest.mark.parametrize("amp", [False, True])
def test_benchmark_measures_cuda_peaks(amp):
    rows = run_benchmark("conv", "cifar10", 32, ["bp", "bp-ckpt", "bp-accum", "dcl"], steps=1, warmup=1, repeats=1,
                         device=CUDA, amp=amp, overrides={"channels": (16, 32)})
    by = {r["label"]: r for r in rows}
    assert all(r["cuda_peak_mb"] > 0 for r in rows)
    assert by["dcl"]["cuda_peak_mb"] < by["bp"]["cuda_peak_mb"]
    assert by["bp-accum"]["peak_memory_mb"] < by["bp"]["peak_memory_mb"]
    copy.deepcopy(rows)  # JSON-like rows
