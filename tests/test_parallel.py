"""Training past one device (dcl.parallel): data-parallel replicas and pipelined local training,
on gloo with spawned CPU processes, against single-process training on the same data.

The spawned ranks run several cases in one process group (tests/parallel_workers.py), once for
2 ranks and once for 3; each case is then compared with the same config trained here in one
process (1 thread, like each rank).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import dcl
from dcl.engine.checkpoint import load_checkpoint
from dcl.data import BatchLoader
from dcl.errors import DCLError
from dcl.methods import build_method
from dcl.models import build_model
from dcl.parallel import StagePlan, balanced_split
from dcl.parallel.comm import short_reason
from dcl.parallel.costmodel import simulate
from dcl.parallel.dictionaries import config_for_stages
from dcl.parallel.stage import check_stageable

import parallel_workers
from tiny import MNIST

DATA = dict(n_train=203, n_test=128)  # 203: the last batch of 64 holds 11 samples, 5 + 6 on two replicas
FC = dict(arch="fc", data="mnist", epochs=2, batch_size=64, width=32, segments=4, eval_batch_size=64, lr=5e-3,
          limit_train_batches=3, dist_timeout=60)
CONV = {**{k: v for k, v in FC.items() if k not in ("width", "segments")},  # conv reads neither
        "arch": "conv", "channels": (4, 8, 8), "batch_size": 32}
CASES2 = {
    "dp-dcl": dict(FC, method="dcl", limit_train_batches=None),        # every batch, the uneven last one too
    "dp-bp-plain": dict(FC, method="bp", grad_overlap=False),
    "pp-dcl-s": dict(FC, method="dcl-s", stages=2),
    "pp-dcl-ld": dict(FC, method="dcl-ld", stages=2),
    "pp-dcl": dict(FC, method="dcl", stages=2),
    "pp-dcl-o": dict(FC, method="dcl-o", stages=2),
}
RESUME = dict(name="pp-dcl-ld-resumed", cfg=CASES2["pp-dcl-ld"], resume_from_epochs=1)
CASES3 = {"pp3-dcl-s": dict(CONV, method="dcl-s", stages=3), "pp3-dcl-ld": dict(CONV, method="dcl-ld", stages=3)}
CASES4 = {"mesh-dcl-s": dict(FC, method="dcl-s", stages=2, limit_train_batches=None)}  # 2 replicas x 2 stages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(world: int, cases: list[dict], root: Path, data_dir: Path) -> Path:
    import torch.multiprocessing as mp
    try:
        mp.start_processes(parallel_workers.rank_main, nprocs=world, start_method="spawn",
                           args=(world, free_port(), cases, str(root), dict(DATA, data_dir=str(data_dir))))
    except Exception:
        errors = "\n".join(p.read_text()[-3000:] for p in sorted(root.glob("rank*.error.txt")))
        pytest.fail(f"spawned ranks failed:\n{errors}")
    return root


@pytest.fixture(scope="module")
def two_ranks(real_data_dir, tmp_path_factory) -> Path:
    cases = [dict(name=n, cfg=c) for n, c in CASES2.items()] + [RESUME]
    return spawn(2, cases, tmp_path_factory.mktemp("two-ranks"), real_data_dir)


@pytest.fixture(scope="module")
def three_ranks(real_data_dir, tmp_path_factory) -> Path:
    return spawn(3, [dict(name=n, cfg=c) for n, c in CASES3.items()], tmp_path_factory.mktemp("three-ranks"),
                 real_data_dir)


@pytest.fixture(scope="module")
def four_ranks(real_data_dir, tmp_path_factory) -> Path:
    return spawn(4, [dict(name=n, cfg=c) for n, c in CASES4.items()], tmp_path_factory.mktemp("four-ranks"),
                 real_data_dir)


@pytest.fixture(scope="module")
def tiny(real_data_dir):
    return parallel_workers.tiny_dataset(str(real_data_dir), **DATA)


class one_thread:
    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)


def sequential(cfg: dict, dataset, out: Path) -> dict:
    """The same config trained in this process, one stage; returns its checkpoint."""
    with one_thread():
        dcl.train(dcl.resolve_config(**{**cfg, "stages": 1}), out, dataset=dataset)
    return load_checkpoint(out)


def weights(state: dict) -> dict[str, torch.Tensor]:
    return {**{f"net.{k}": v for k, v in state["net"].items()}, **{f"aux.{k}": v for k, v in state["aux"].items()}}


def assert_same_run(got: dict, ref: dict, exact: bool) -> None:
    a, b = weights(got), weights(ref)
    assert a.keys() == b.keys()
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    for r, s in zip(got["history"], ref["history"], strict=True):
        assert r["test_error"] == s["test_error"] and r["layer_test_errors"] == s["layer_test_errors"]
        assert r["train_loss"] == pytest.approx(s["train_loss"], rel=1e-5)
        assert r["block_losses"] == pytest.approx(s["block_losses"], rel=1e-5)


# --- data parallel -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dp-dcl", "dp-bp-plain"])
def test_two_replicas_equal_one_process_on_the_global_batch(two_ranks, tiny, tmp_path, name):
    """Overlapped (dcl) and plain (bp) all-reduce; dp-dcl's uneven last batch (5 + 6 samples)
    is weighted by each replica's share."""
    got = load_checkpoint(two_ranks / name)
    assert_same_run(got, sequential(CASES2[name], tiny, tmp_path / "ref"), exact=False)
    assert got["history"][-1]["samples_per_second"] > 0


# --- pipelines -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pp-dcl-s", "pp-dcl-ld"])
def test_two_stage_pipeline_equals_sequential(two_ranks, tiny, tmp_path, name):
    got = load_checkpoint(two_ranks / name)
    assert list(got["config"]["stage_split"]) == [1, 1]
    assert_same_run(got, sequential(CASES2[name], tiny, tmp_path / "ref"), exact=True)


@pytest.mark.parametrize("name", ["pp3-dcl-s", "pp3-dcl-ld"])
def test_three_stage_pipeline_equals_sequential(three_ranks, tiny, tmp_path, name):
    """Conv blocks with BatchNorm: each block's statistics live on its stage, as in one process."""
    got = load_checkpoint(three_ranks / name)
    assert list(got["config"]["stage_split"]) == [1, 1, 1]
    assert_same_run(got, sequential(CASES3[name], tiny, tmp_path / "ref"), exact=True)


def test_two_replicas_of_a_two_stage_pipeline_equal_one_process(four_ranks, tiny, tmp_path):
    """The 2-D mesh: activations within a replica, gradients averaged over the replicas of each
    stage, the uneven last batch weighted."""
    got = load_checkpoint(four_ranks / "mesh-dcl-s")
    assert_same_run(got, sequential(CASES4["mesh-dcl-s"], tiny, tmp_path / "ref"), exact=False)


def test_summary_records_how_the_run_was_spread(two_ranks):
    """summary.json (and the summary every rank returns) names the world size, replicas x stages,
    the stage split, the backend and every rank's device."""
    import json
    for name, replicas, stages in (("dp-dcl", 2, 1), ("pp-dcl-s", 1, 2)):
        got = json.loads((two_ranks / name / "summary.json").read_text())
        returned = torch.load(two_ranks / f"{name}.result.pt", weights_only=False)["summary"]
        for s in (got, returned):
            assert (s["world_size"], s["replicas"], s["stages"], s["backend"]) == (2, replicas, stages, "gloo")
            assert len(s["device_names"]) == 2 and all(d.startswith("cpu (") for d in s["device_names"])
        assert got["stage_split"] == (None if stages == 1 else [1, 1])
        assert got["config"]["stages"] == stages


def test_two_stage_run_resumes_exactly(two_ranks):
    got, ref = load_checkpoint(two_ranks / "pp-dcl-ld-resumed"), load_checkpoint(two_ranks / "pp-dcl-ld")
    assert [r["epoch"] for r in got["history"]] == [1, 2]
    for k, v in weights(ref).items():
        assert torch.equal(weights(got)[k], v), k
    for a, b in zip(got["method"]["optimizers"], ref["method"]["optimizers"]):
        for pa, pb in zip(a["state"].values(), b["state"].values()):
            assert all(torch.equal(pa[k], pb[k]) for k in pa)
    def strip(history):  # timings and memory readings vary from run to run
        return [{k: v for k, v in r.items() if "second" not in k and "memory" not in k} for r in history]

    assert strip(got["history"]) == strip(ref["history"])


def lagged_two_stage(cfg: dict, dataset) -> dict:
    """The schedule a 2-stage pipeline runs, written out in one process: at tick k block 1
    trains batch k while block 2 trains batch k-1 (it fills and drains each epoch); a shared
    dictionary (dcl: accumulate wiring) takes one step per tick on the gradients of both."""
    c = config_for_stages(dcl.resolve_config(**cfg))
    with one_thread():
        torch.manual_seed(c.seed)
        net = build_model(c, dataset.spec)
        m = build_method(net, c)
        loader = BatchLoader(dataset.train, dataset.spec, c.batch_size, train=True, seed=c.seed,
                             limit_batches=c.limit_train_batches)
        for epoch in range(c.epochs):
            loader.set_epoch(epoch)
            batches = list(loader)
            prev = None
            for k in range(len(batches) + 1):
                out = None
                if k < len(batches):
                    x, y = batches[k]
                    out = (m.block_step(0, x, y)[0], y)
                if prev is not None:
                    h, y = prev
                    h, _ = m.block_step(1, h, y)
                    m.train_head(h, y)
                if m.shared_optimizer is not None:
                    m.optimizer_step(m.shared_optimizer)
                prev = out
            m.epoch_end()
    return {"net": net.state_dict(), "aux": m.aux.state_dict()}


@pytest.mark.parametrize("name", ["pp-dcl", "pp-dcl-o"])
def test_shared_dictionary_under_stages_follows_the_lagged_schedule(two_ranks, tiny, name):
    """dcl: dictionary gradients summed over the stages, one step per tick; dcl-o: the last
    stage's dictionary broadcast after every update. Both equal the schedule written out."""
    got = load_checkpoint(two_ranks / name)
    if name == "pp-dcl":
        assert got["config"]["dict_update"] == "accumulate"
    want = lagged_two_stage(CASES2[name], tiny)
    for k, v in weights(want).items():
        torch.testing.assert_close(weights(got)[k], v, rtol=1e-5, atol=1e-6, msg=k)


# --- failures ----------------------------------------------------------------------------------
def test_a_killed_rank_ends_the_run_with_a_one_line_error(real_data_dir, tmp_path):
    """Two ranks of `dcl train --stages 2` started as torchrun starts them; rank 1 is killed
    mid-run; rank 0 must stop by itself with one line on stderr and status 2."""
    out = tmp_path / "run"
    env = dict(os.environ, DCL_DATA_DIR=str(real_data_dir), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE="2", OMP_NUM_THREADS="1")
    args = [sys.executable, "-m", "dcl", "train", "--arch", "fc", "--data", "mnist", "--method", "dcl-s",
            "--stages", "2", "--epochs", "1000", "--batch-size", "64", "--limit-train-batches", "2",
            "--set", "width=32", "--set", "segments=4", "--set", "dist_timeout=30", "--out", str(out), "--no-progress"]
    procs = [subprocess.Popen(args, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    try:
        deadline = time.time() + 120
        while not (out / "checkpoint.pt").exists():  # both ranks are training
            assert time.time() < deadline and procs[0].poll() is None, procs[0].stderr.read()
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        t0 = time.time()
        _, err = procs[0].communicate(timeout=60)
        elapsed = time.time() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert procs[0].returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("dcl train: error: rank 0 of 2 (stage 1 of 2):"), err
    assert "another rank crashed" in lines[0]
    assert elapsed < 30  # the peer's closed connection is seen at once, well before dist_timeout


def test_stages_need_one_process_per_stage(tmp_path):
    cfg = dcl.resolve_config(arch="fc", data="mnist", method="dcl-s", stages=2)
    with pytest.raises(DCLError, match="torchrun --nproc-per-node 2"):
        dcl.train(cfg)


@pytest.mark.parametrize("method", ["bp"])
def test_methods_without_the_local_loop_refuse_stages(method):
    cfg = dcl.resolve_config(arch="fc", data="mnist", method=method, width=32, segments=4)
    m = build_method(build_model(cfg, MNIST), cfg)
    with pytest.raises(DCLError, match="local method"):
        check_stageable(m)


def test_gloo_errors_become_one_line():
    e = RuntimeError("[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer "
                     "[127.0.0.1]:51341. This is typically caused by a remote worker crashing. Check the logs.\nmore")
    assert short_reason(e) == "Connection closed by peer [127.0.0.1]:51341"


# --- splits, shards, the cost model --------------------------------------------------------------
def test_balanced_split_minimises_the_slowest_stage():
    assert balanced_split([1, 1, 1, 1], 2) == (2, 2)
    assert balanced_split([4, 1, 1, 1, 1], 2) == (1, 4)
    assert balanced_split([2, 12.5, 4.8, 10, 5.1, 1.9, 0.2], 4) == (2, 1, 1, 3)  # VGG8B as measured
    assert balanced_split([3, 1, 1], 3) == (1, 1, 1)
    plan = StagePlan((2, 1, 3))
    assert list(plan.blocks(2)) == [3, 4, 5] and plan.stage_of(2) == 1
    with pytest.raises(DCLError):
        balanced_split([1, 1], 3)


def test_shards_of_every_batch_are_the_global_batch(fashion_mnist):
    """Augmented (flipped) batches: two replicas' parts, side by side, are the one-process batch."""
    from conftest import small_dataset
    ds = small_dataset(fashion_mnist, n_train=101)
    full = BatchLoader(ds.train, ds.spec, 32, train=True, seed=3)
    parts = [BatchLoader(ds.train, ds.spec, 32, train=True, seed=3, shard=(i, 2)) for i in range(2)]
    for loader in (full, *parts):
        loader.set_epoch(1)
    assert len(full) == len(parts[0]) == 4  # 101 = 3 x 32 + 5; each part of the last gets >= 2
    for (x, y), (x0, y0), (x1, y1) in zip(full, *parts):
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)
    assert len(BatchLoader(ds.train, ds.spec, 32, train=True, shard=(0, 3))) == 3  # 5 < 2 x 3: dropped


def test_pipeline_simulation_by_hand():
    assert simulate([1, 1, 1], [0, 0], 10) == 12      # fill: 2 ticks
    assert simulate([1, 1, 1], [0.5, 0.5], 10) == 13  # each boundary's transfer once, in the fill
    assert simulate([1, 2, 1], [0, 0], 10) == 22      # the slowest stage sets the pace


def test_describe_shows_the_measured_split():
    from dcl.parallel.plan import format_split
    from dcl.parallel.standalone import describe_split
    r = describe_split("conv", "mnist", "dcl-s", 2, channels=(4, 8, 8), batch_size=8)
    assert len(r["split"]) == 2 and sum(r["split"]) == 3 and len(r["block_ms"]) == 3
    assert r["split"] == list(balanced_split(r["block_ms"], 2))
    assert "2 stages" in format_split(r)


@pytest.mark.slow
def test_stage_bench_reports_throughput_idle_and_bytes():
    from dcl.parallel.bench import format_stage_report, run_stage_bench
    rep = run_stage_bench("fc", "mnist", 32, "dcl-s", [1, 2], steps=3, warmup=1,
                          overrides=dict(width=32, segments=4))
    one, two = rep["rows"]
    assert one["stages"] == 1 and two["split"] == [1, 1] and one["speedup"] == 1.0
    assert two["bytes_per_step"][0] == 32 * 32 * 4 + 32 * 8 + 80  # activations + labels + header
    assert two["bytes_per_step"][1] == 0 and all(0 <= v <= 1 for v in two["idle"])
    assert [m["stages"] for m in rep["model"]] == [1, 2] and rep["model"][0]["speedup"] == pytest.approx(1.0)
    assert "samples/s" in format_stage_report(rep)
