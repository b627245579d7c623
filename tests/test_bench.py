"""dcl.bench: memory accounting checked against hand counts, the lean local loop, and the
benchmark / CLI running end to end on tiny networks (no timing is asserted: the machine may be slow)."""
import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dcl.bench import SavedTensorMeter, TrainingMemoryMeter, build_bench_run, run_benchmark
from dcl.cli import main
from tiny import tiny_config

F32 = 4


def nbytes(t):
    return t.numel() * t.element_size()


# --- saved-for-backward accounting ---------------------------------------------------------
def test_linear_saves_exactly_its_input():
    lin = nn.Linear(30, 20)
    x = torch.randn(16, 30)  # no grad: only the weight's gradient needs a saved tensor (x)
    with SavedTensorMeter(exclude=lin.parameters()) as m:
        out = lin(x)
    assert m.live_bytes == m.peak_bytes == 16 * 30 * F32 == nbytes(x)
    out.sum().backward()
    assert m.live_bytes == 0 and m.peak_bytes == nbytes(x)


def test_linear_then_relu_saves_input_and_output():
    lin = nn.Linear(30, 20)
    x = torch.randn(16, 30)
    with SavedTensorMeter(exclude=lin.parameters()) as m:
        out = torch.relu(lin(x))  # linear saves x, relu saves its (16, 20) result
    assert m.live_bytes == (16 * 30 + 16 * 20) * F32
    with SavedTensorMeter(exclude=lin.parameters()) as m2:
        out2 = nn.ReLU(inplace=True)(lin(x))  # in place: relu's result is linear's output storage
    assert m2.live_bytes == (16 * 30 + 16 * 20) * F32
    del out, out2


def test_relu_then_linear_counts_a_shared_storage_once_and_weights_only_if_asked():
    lin = nn.Linear(30, 20)
    x = torch.randn(16, 30, requires_grad=True)
    with SavedTensorMeter(exclude=lin.parameters()) as m:
        out = lin(torch.relu(x))  # relu saves r; linear saves r (same storage) and its weight
    assert m.packed >= 2  # r saved twice ...
    assert m.live_bytes == 16 * 30 * F32  # ... counted once; the weight is excluded
    with SavedTensorMeter() as m_all:
        out2 = lin(torch.relu(x))
    assert m_all.live_bytes == 16 * 30 * F32 + nbytes(lin.weight)
    del out, out2


def test_saved_bytes_are_released_when_the_graph_is_freed_and_the_peak_stays():
    lin = nn.Linear(10, 10)
    a, b = torch.randn(8, 10), torch.randn(4, 10)
    with SavedTensorMeter(exclude=lin.parameters()) as m:
        ya = lin(a)
        yb = lin(b)
        assert m.live_bytes == nbytes(a) + nbytes(b)
        ya.sum().backward()  # frees graph a
        assert m.live_bytes == nbytes(b)
        del yb  # a graph dropped without backward is released too (no garbage collector needed)
        assert m.live_bytes == 0
        yc = lin(b)
    assert m.live_bytes == nbytes(b)
    assert m.peak_bytes == nbytes(a) + nbytes(b)
    del yc
    assert m.live_bytes == 0


def test_gradients_are_unchanged_by_the_meter():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 12), nn.ReLU(inplace=True), nn.Dropout(0.0), nn.Linear(12, 3))
    x = torch.randn(5, 6, requires_grad=True)
    net(x).square().sum().backward()
    ref = [p.grad.clone() for p in net.parameters()] + [x.grad.clone()]
    net.zero_grad(set_to_none=True)
    x.grad = None
    with SavedTensorMeter():
        out = net(x).square().sum()
    out.backward()
    got = [p.grad for p in net.parameters()] + [x.grad]
    assert all(torch.equal(a, b) for a, b in zip(ref, got))


# --- whole training steps ------------------------------------------------------------------
def tiny(method, arch="fc", **kw):
    """The benchmarked run of a tiny network, batch 8 (the recipe's epochs, as dcl bench)."""
    return build_bench_run(tiny_config(method, arch, **{"batch_size": 8, "device": "cpu", "epochs": None, **kw}))


def test_training_meter_parts_for_backprop():
    run, x, y = tiny("bp")
    params = list(run.net.parameters())
    pbytes = sum(nbytes(p) for p in params)
    run.method.train_step(x, y)  # creates the AdamW state
    meter = TrainingMemoryMeter([run.net, run.method.aux], run.method.optimizers)
    with meter:
        run.method.train_step(x, y)
    r = meter.report()
    assert r.weights_bytes == pbytes + sum(nbytes(b) for b in run.net.buffers())
    # AdamW: exp_avg and exp_avg_sq per parameter, plus a 0-d step counter each
    assert 2 * pbytes <= r.optimizer_state_bytes <= 2 * pbytes + 8 * len(params)
    assert r.grads_peak_bytes == pbytes  # BP holds every gradient at once before its step
    assert r.peak_bytes >= r.saved_peak_bytes + r.weights_bytes + r.optimizer_state_bytes
    assert r.peak_bytes == r.saved_at_peak + r.weights_bytes + r.grads_at_peak + r.optimizer_state_bytes
    assert r.saved_peak_bytes >= nbytes(x)  # the first linear saves the flattened input


@pytest.mark.parametrize("method", ["bp", "dcl", "dcl-s"])
def test_no_gradient_outlives_a_step(method):
    run, x, y = tiny(method, arch="conv")
    run.method.train_step(x, y)
    assert all(p.grad is None for p in run.net.parameters())
    assert all(p.grad is None for p in run.method.aux.parameters())


def test_local_training_holds_one_block_at_a_time():
    mem = {}
    for method in ("bp", "dcl"):
        run, x, y = tiny(method, arch="fc", width=256, segments=4)
        run.method.train_step(x, y)
        meter = TrainingMemoryMeter([run.net, run.method.aux], run.method.optimizers)
        with meter:
            run.method.train_step(x, y)
        mem[method] = (meter.report(), run)
    bp, dcl = mem["bp"][0], mem["dcl"][0]
    assert dcl.saved_peak_bytes < bp.saved_peak_bytes
    net = mem["dcl"][1].net
    largest_block = max(sum(nbytes(p) for p in b.parameters()) for b in net.blocks)
    dict_bytes = sum(nbytes(p) for p in mem["dcl"][1].method.aux.parameters())
    assert dcl.grads_peak_bytes <= largest_block + dict_bytes < bp.grads_peak_bytes


def test_local_step_equals_a_hand_written_loop():
    """The lean loop changes memory, not the math: compare with blocks trained one by one."""
    run, x, y = tiny("dcl", arch="fc", dropout=0.0)
    net, method = run.net, run.method
    ref_net, ref_aux = copy.deepcopy(net), copy.deepcopy(method.aux)
    cfg = run.cfg
    d = ref_aux.dictionary.weight
    h = x
    for i, block in enumerate(ref_net.blocks):
        opt = torch.optim.AdamW(list(block.parameters()) + [d], lr=cfg.lr, betas=cfg.betas,
                                weight_decay=cfg.weight_decay)
        out = block(h)
        loss = ref_aux.dictionary(out, y, net.segments(i))
        opt.zero_grad()
        loss.backward()
        opt.step()
        h = out.detach()
    opt = torch.optim.AdamW(ref_net.head.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    F.cross_entropy(ref_net.head(h), y).backward()
    opt.step()
    method.train_step(x, y)
    for a, b in zip(net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(method.aux.dictionary.weight, d, rtol=1e-5, atol=1e-6)


# --- the benchmark and its command ---------------------------------------------------------
def test_run_benchmark_rows_and_ratios():
    rows = run_benchmark("conv", "mnist", 8, ["bp", "dcl", "dcl-s"], steps=1, warmup=1, repeats=2,
                         isolated=False, overrides={"channels": (4, 8)})
    assert [r["method"] for r in rows] == ["bp", "dcl", "dcl-s"]
    bp = rows[0]
    assert "speedup_vs_bp" not in bp and "memory_vs_bp" not in bp
    for r in rows:
        assert r["samples_per_second"] > 0 and r["step_ms"] > 0 and r["repeats"] == 2
        assert r["peak_memory_mb"] >= r["saved_peak_mb"] + r["weights_mb"] + r["optimizer_state_mb"] - 1e-9
    for r in rows[1:]:
        assert r["speedup_vs_bp"] == pytest.approx(r["samples_per_second"] / bp["samples_per_second"])
        assert r["paired_speedup_vs_bp"] > 0 and len(r["step_ms_all"]) == 2
        assert r["memory_vs_bp"] == pytest.approx(r["peak_memory_mb"] / bp["peak_memory_mb"])
        assert r["memory_vs_bp"] < 1.0  # one block's activations instead of all of them
    assert rows[1]["delta_params"] == 10 * 8 and rows[2]["delta_params"] == 0  # D^Z is Z x C_D


def test_cli_bench_json_with_fresh_process_memory(capsys):
    code = main(["bench", "--arch", "fc", "--data", "mnist", "--batch-size", "8", "--methods", "bp,dcl",
                 "--steps", "1", "--repeats", "1", "--warmup", "0", "--set", "width=32", "--set", "segments=4",
                 "--json"])
    out = capsys.readouterr().out
    assert code == 0
    rows = json.loads(out)
    assert [r["method"] for r in rows] == ["bp", "dcl"]
    for key in ("samples_per_second", "peak_memory_mb", "rss_peak_mb", "rss_train_mb"):
        assert rows[1][key] > 0, key
    assert {"speedup_vs_bp", "memory_vs_bp", "rss_train_vs_bp"} <= set(rows[1])


def test_cli_bench_table(capsys):
    code = main(["bench", "--arch", "conv", "--data", "mnist", "--batch-size", "4", "--methods", "bp,dcl-s",
                 "--steps", "1", "--repeats", "1", "--no-isolated", "--set", "channels=4,8", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "samples/s" in out and "1 threads" in out
    lines = out.splitlines()
    assert any(l.startswith("dcl-s") and "x" in l for l in lines)


@pytest.mark.parametrize("argv, needle", [
    (["--methods", "bp,magic"], "unknown method 'magic'"),
    (["--methods", "bp,bp"], "lists a method twice"),
    (["--amp"], "needs a CUDA device"),
    (["--steps", "0"], "steps must be >= 1"),
    (["--arch", "resnet9000"], "unknown architecture 'resnet9000'"),
])
def test_cli_bench_bad_input(capsys, argv, needle):
    base = ["bench", "--arch", "fc", "--data", "mnist", "--batch-size", "4", "--no-isolated"]
    code = main(base + argv)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_fresh_process_reports_its_own_peak_not_its_parents():
    """ru_maxrss survives fork + exec on Linux: a child of a big parent would report the parent."""
    from dcl.bench.isolated import current_rss_mb, measure_in_subprocess
    ballast = torch.ones(256 * 2 ** 20 // 4)  # 256 MiB the child does not have
    parent = current_rss_mb()
    cfg = tiny_config("bp", batch_size=8, device="cpu", epochs=None)
    got = measure_in_subprocess(cfg.to_dict(), steps=1, threads=1)
    assert "error" not in got, got
    assert 0 < got["rss_base_mb"] <= got["rss_peak_mb"] < parent - 128
    del ballast
