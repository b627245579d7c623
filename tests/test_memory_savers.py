"""BP's memory savers (bp-accum, bp-ckpt) and micro-batched DCL give the same update as the plain
methods (gradients compared before every optimizer step), and hold less memory (accounted)."""
import pytest
import torch

from dcl.bench import TrainingMemoryMeter, build_bench_run
from dcl.errors import DCLError

from tiny import tiny_config


def build(method, arch="fc", batch=12, data="mnist", **kw):
    """The benchmarked run of a tiny network (FC width 48), batch ``batch``."""
    over = {"width": 48} if arch == "fc" else {}
    return build_bench_run(tiny_config(method, arch, data, **{"batch_size": batch, "device": "cpu", "epochs": None,
                                                               **over, **kw}))


def step_gradients(run, x, y, seed=0):
    """Train one step; return the gradients every optimizer step saw (in order) and the loss."""
    seen = []

    def record(opt):
        seen.append([p.grad.clone() if p.grad is not None else None
                     for g in opt.param_groups for p in g["params"]])

    run.method.sync_gradients = record  # the data-parallel hook: called before every step
    torch.manual_seed(seed)
    stats = run.method.train_step(x, y)
    return seen, stats


def assert_same_update(a, b, rtol=1e-5, atol=1e-6):
    (ga, sa), (gb, sb) = a, b
    assert len(ga) == len(gb)
    for step_a, step_b in zip(ga, gb):
        assert len(step_a) == len(step_b)
        for u, v in zip(step_a, step_b):
            assert (u is None) == (v is None)
            if u is not None:
                assert torch.allclose(u, v, rtol=rtol, atol=atol), (u - v).abs().max()
    assert torch.allclose(sa["loss"], sb["loss"], rtol=rtol, atol=atol)


def test_bp_accum_gives_bp_update_without_batchnorm():
    # FC (LayerNorm: per sample) without dropout: micro-batches change nothing but memory
    ref = build("bp", batch=10)
    _, x, y = ref
    bp = step_gradients(ref[0], x, y)
    for m in (2, 4, 10):  # 4 does not divide 10: parts of 3, 3, 2, 2 weighted by their share
        acc = build("bp-accum", batch=10, micro_batches=m)[0]
        assert acc.method.micro_batches == m
        assert_same_update(bp, step_gradients(acc, x, y))
    assert build("bp-accum")[0].method.micro_batches == 4  # its default
    for p, q in zip(ref[0].net.parameters(), acc.net.parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6)  # the same weights after the step


@pytest.mark.parametrize("arch, kw", [("conv", dict(dropout=0.3)), ("fc", dict(dropout=0.2))])
def test_bp_ckpt_gives_bp_update_with_batchnorm_and_dropout(arch, kw):
    # conv: BatchNorm + channel dropout; fc: LayerNorm + element dropout
    ref, x, y = build("bp", arch, batch=6, **kw)
    ckpt = build("bp-ckpt", arch, batch=6, **kw)[0]
    for _ in range(2):  # the second step starts from updated weights and running statistics
        assert_same_update(step_gradients(ref, x, y), step_gradients(ckpt, x, y), rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(ref.net.state_dict().items(), ckpt.net.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name  # BN running stats: once per step


def test_bp_ckpt_with_micro_batches_equals_bp_accum():
    acc, x, y = build("bp-accum", batch=8, micro_batches=2, dropout=0.0)
    ckpt = build("bp-ckpt", batch=8, micro_batches=2, dropout=0.0)[0]
    assert_same_update(step_gradients(acc, x, y), step_gradients(ckpt, x, y))


@pytest.mark.parametrize("method, pipelined", [("dcl", False), ("dcl-s", True), ("dcl-o", True), ("dcl-ld", True)])
def test_micro_batched_dcl_gives_the_same_update(method, pipelined):
    ref, x, y = build(method, batch=10)
    micro = build(method, batch=10, micro_batches=3)[0]
    assert micro.method.blocks_independent() is pipelined  # dcl: its dictionary moves block after block
    a, b = step_gradients(ref, x, y), step_gradients(micro, x, y)
    assert len(a[0]) == 3  # block 1, block 2, head
    if pipelined:  # every part through all blocks first, then the steps (same gradients, other order)
        order = lambda steps: sorted(steps, key=lambda g: [t.shape for t in g if t is not None])
        a, b = (order(a[0]), a[1]), (order(b[0]), b[1])
    assert_same_update(a, b)
    assert torch.allclose(a[1]["block_losses"], b[1]["block_losses"], rtol=1e-5, atol=1e-6)


def test_micro_batch_options_are_checked():
    with pytest.raises(DCLError, match="bp.*does not take micro_batches"):
        build("bp", micro_batches=2)
    with pytest.raises(DCLError, match="larger than the batch size"):
        build("bp-accum", batch=4, micro_batches=8)
    with pytest.raises(DCLError, match=r"micro_batches must be an integer in \[1,"):
        build("dcl", micro_batches=0)
    with pytest.raises(DCLError, match="micro-batches of 1 sample"):
        build("bp-accum", arch="conv", batch=6, micro_batches=4)  # BatchNorm needs 2 per part


def accounted(run, x, y):
    run.method.train_step(x, y)
    meter = TrainingMemoryMeter([run.net, run.method.aux], run.method.optimizers)
    with meter:
        run.method.train_step(x, y)
    return meter.report()


def test_memory_savers_hold_less():
    kw = dict(arch="conv", batch=16, data="mnist", channels=(8, 16))
    bp, x, y = build("bp", **kw)
    m_bp = accounted(bp, x, y)
    m_ckpt = accounted(build("bp-ckpt", **kw)[0], x, y)
    m_acc = accounted(build("bp-accum", micro_batches=4, **kw)[0], x, y)
    m_dcl = accounted(build("dcl", **kw)[0], x, y)
    m_dcl4 = accounted(build("dcl", micro_batches=4, **kw)[0], x, y)
    m_dcls4 = accounted(build("dcl-s", micro_batches=4, **kw)[0], x, y)
    assert m_ckpt.saved_peak_bytes < m_bp.saved_peak_bytes
    assert m_acc.saved_peak_bytes < 0.5 * m_bp.saved_peak_bytes
    assert m_dcl4.saved_peak_bytes < 0.75 * m_dcl.saved_peak_bytes
    # pipelined (static dictionary): no whole-batch block input is held
    assert m_dcls4.saved_peak_bytes < 0.5 * m_dcl4.saved_peak_bytes
    # bp-accum holds every gradient while it runs the later micro-batches
    assert m_acc.grads_peak_bytes == m_bp.grads_peak_bytes
