"""dcl reproduce: a tiny real grid (FC on real MNIST, 2 cells, 2 batches per epoch) killed
mid-way and rerun gives the same table as an uninterrupted grid, with no run trained twice;
cells that cannot run are listed, never skipped; budgets scale the recipe."""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dcl.cli import main
from dcl.config import resolve_config
from dcl.reproduce import estimate, reproduce
from dcl.reproduce.grid import parse_budget, plan
from dcl.reproduce.paper import build_table

TINY = dict(rows=["mnist"], cols=["bp", "dcl"], epochs=3, overrides={"limit_train_batches": 2}, memory=False,
            log=lambda s: None)
TINY_ARGS = ["table2", "--rows", "mnist", "--cols", "bp,dcl", "--epochs", "3", "--set", "limit_train_batches=2",
             "--no-memory", "--no-progress"]


def _numbers(csv_text: str) -> dict[tuple[str, str], tuple]:
    out = {}
    for r in csv.DictReader(io.StringIO(csv_text)):
        out[(r["row"], r["col"])] = (r["status"], r["final_mean"], r["best_mean"], r["best_epochs"], r["epochs"],
                                     r["params"], r["delta_params"], r["paper"], r["diff"])
    return out


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)     # the killed subprocess runs with one thread too: same arithmetic
    yield
    torch.set_num_threads(old)


def test_grid_killed_midway_resumes_to_the_same_table(tmp_path, real_data_dir, one_thread):
    ref = reproduce("table2", out=tmp_path / "ref", data_dir=real_data_dir, **TINY)
    assert ref.counts == {"trained": 2, "reused": 0, "failed": 0, "blocked": 0}

    out = tmp_path / "killed"
    grid = plan("table2", budget=parse_budget(None, 3), rows=["mnist"], cols=["bp", "dcl"], out=out,
                overrides={"limit_train_batches": 2})
    bp_run, dcl_run = (c.runs[0] for c in grid.cells)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DCL_DATA_DIR": str(real_data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "dcl", "reproduce", *TINY_ARGS, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_epoch = dcl_run.train_dir(out) / "summary.json"       # written last in an epoch
    deadline = time.monotonic() + 300
    while not first_epoch.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)                  # killed right after the second cell's first epoch
    proc.wait()
    history = (dcl_run.train_dir(out) / "metrics.jsonl").read_text().splitlines()
    assert 1 <= len(history) < 3, "the kill did not land mid-way through the second cell"
    assert json.loads((bp_run.train_dir(out) / "summary.json").read_text())["epochs"] == 3

    again = reproduce("table2", out=out, data_dir=real_data_dir, **TINY)
    assert again.counts == {"trained": 1, "reused": 1, "failed": 0, "blocked": 0}
    assert _numbers(again.csv_path.read_text()) == _numbers(ref.csv_path.read_text())
    bp_sessions = json.loads((bp_run.folder(out) / "provenance.json").read_text())
    dcl_sessions = json.loads((dcl_run.folder(out) / "provenance.json").read_text())
    assert [s["from_epoch"] for s in bp_sessions] == [0]             # trained once, then reused
    # the killed session (never ended), then the one that resumed from its checkpoint
    assert [(s["from_epoch"], s["to_epoch"], s["ended"] is None) for s in dcl_sessions] == \
        [(0, None, True), (len(history), 3, False)]
    epochs = [json.loads(line)["epoch"] for line in (dcl_run.train_dir(out) / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]

    # the cell's wall time counts both sessions: the killed one by its epochs' seconds
    # (it never recorded its end), the resumed one by its recorded wall time
    killed_epochs = [json.loads(line)["seconds"] for line in history]
    dcl_row = next(r for r in again.rows if r["col"] == "dcl")
    assert dcl_row["wall_seconds"] == pytest.approx(dcl_sessions[1]["wall_seconds"] + sum(killed_epochs), abs=0.06)

    third = reproduce("table2", out=out, data_dir=real_data_dir, **TINY)     # all done: nothing trains
    assert third.counts["trained"] == 0 and third.counts["reused"] == 2
    assert again.markdown_path.name == "table2-3ep.md"     # a budget's own table: the paper budget's is table2.md
    md = again.markdown_path.read_text()
    assert "| MNIST | BP | done | 3 (150) | 1/1 |" in md and "dcl commit" in md


def test_cells_that_cannot_run_are_listed(tmp_path, real_data_dir):
    t = build_table("tiny", {
        "source": "Tiny", "arch": "fc", "values": ["err"],
        "rows": [{"key": "mnist", "data": "mnist"}, {"key": "fmnist", "data": "fashion-mnist"}],
        "cols": [{"key": "bp", "method": "bp"}, {"key": "nope", "method": "no-such-method"}]})
    empty = tmp_path / "empty"
    empty.mkdir()
    res = reproduce(t, out=tmp_path / "o", data_dir=empty, epochs=1, memory=False, log=lambda s: None)
    status = {(r["row"], r["col"]): r["status"] for r in res.rows}
    assert status[("mnist", "bp")].startswith("no data: mnist")
    assert status[("mnist", "nope")] == "method not registered: no-such-method"
    assert res.counts["trained"] == 0
    text = res.markdown_path.read_text()
    assert "no data: mnist" in text and "method not registered: no-such-method" in text


def test_budget_scales_epochs_and_milestones():
    cfg = resolve_config(arch="fc", data="mnist", method="dcl")
    short = parse_budget("short").scale(cfg)
    assert (short.epochs, short.milestones) == (15, (5, 10, 12))
    assert parse_budget("paper").scale(cfg) == cfg
    assert parse_budget(None, 2).scale(cfg).milestones == (1,)
    # DRTP's recipe has a constant schedule: its milestones are not read, so they stay as they
    # are (scaled ones would be a field set on purpose that the run ignores, which dcl.train refuses)
    from dcl.config import check_fields_used
    drtp = plan("table2", budget="short", rows=["mnist"], cols=["drtp"]).cells[0]
    assert drtp.problem is None and drtp.runs[0].cfg.epochs == 10
    assert drtp.runs[0].cfg.milestones == resolve_config(data="mnist").milestones
    check_fields_used(drtp.runs[0].cfg)
    for bad in ("long", "0", "1.5"):
        assert main(["reproduce", "table2", "--budget", bad, "--dry-run"]) == 2


def test_cli_list_dry_run_and_bad_names(tmp_path, real_data_dir, capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert "table4" in out and "figIII" in out and "GPU h" in out
    assert main(["reproduce", "table2", "--rows", "mnist", "--cols", "dcl", "--epochs", "2", "--data-dir",
                 str(real_data_dir), "--out", str(tmp_path), "--dry-run", "--set", "limit_train_batches=3"]) == 0
    out = capsys.readouterr().out
    assert "MNIST / DCL" in out and "estimated remaining time" in out
    # CaFo trains at the epoch's end: its per-step time would predict 0 s, so it is not timed
    assert main(["reproduce", "table1", "--rows", "mnist", "--cols", "cafo", "--data-dir", str(real_data_dir),
                 "--out", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1 cell(s) not timed (cafo trains at the epoch's end" in out and "estimated remaining" not in out
    assert main(["reproduce", "table2", "--rows", "svhn", "--dry-run"]) == 2
    assert "unknown row of table2 'svhn'" in capsys.readouterr().err
    assert main(["reproduce", "table9"]) == 2


def test_cost_table_measures_memory_with_the_bench_api(tmp_path):
    t = build_table("cost", {
        "source": "Cost", "kind": "cost", "arch": "fc", "batch_size": 16, "values": ["dparams", "memory"],
        "rows": [{"key": "mnist", "data": "mnist"}],
        "cols": [{"key": "bp", "method": "bp", "printed": "0 847 MiB"},
                 {"key": "dcl", "method": "dcl", "printed": "5.12K 580 MiB"}]})
    res = reproduce(t, out=tmp_path, log=lambda s: None)
    rows = {r["col"]: r for r in res.rows}
    assert rows["dcl"]["delta_params"] == 1280 and rows["bp"]["delta_params"] == 0
    assert rows["dcl"]["memory_kind"] == "accounted (CPU)"
    assert 0 < rows["dcl"]["memory_mib"] < rows["bp"]["memory_mib"]
    assert rows["dcl"]["paper_memory"] == 580
    assert "accounted (CPU)" in res.markdown and "not the paper's GPU" in res.markdown
    cached = json.loads((tmp_path / "costs.json").read_text())["memory"]
    assert len(cached) == 2
    _, cells = estimate(t, out=tmp_path)
    assert [c["col"] for c in cells] == ["bp", "dcl"]


def test_a_cell_reading_another_columns_run_trains_it_first(tmp_path, real_data_dir):
    """Fig. 4's static dictionaries are scaled to the norm of the same row's trained D^Z: the
    reference "@col:dz" makes the D^Z run a prerequisite, even when only D^N is selected."""
    from dcl.methods.dcl import dictionary_row_norm
    t = build_table("ref", {
        "source": "Ref", "arch": "fc", "values": ["err"], "rows": [{"key": "mnist", "data": "mnist"}],
        "cols": [{"key": "dz", "method": "dcl"},
                 {"key": "dn", "method": "dcl-s", "set": {"dict_norm_from": "@col:dz"}}]})
    res = reproduce(t, cols=["dn"], out=tmp_path, data_dir=real_data_dir, epochs=1,
                    overrides={"limit_train_batches": 2}, log=lambda s: None)
    assert res.counts["trained"] == 2
    grid = plan(t, budget=parse_budget(None, 1), out=tmp_path, overrides={"limit_train_batches": 2})
    dz, dn = (c.runs[0] for c in grid.cells)
    assert dn.refs == {"dict_norm_from": dz.key}
    norm_z = dictionary_row_norm(dz.train_dir(tmp_path))
    assert dictionary_row_norm(dn.train_dir(tmp_path)) == pytest.approx(norm_z, rel=1e-6)  # random rows: ~1e-2 apart
    assert {r["col"]: r["status"] for r in res.rows} == {"dz": "done", "dn": "done"}


def test_cells_sharing_a_run_read_their_own_metrics(tmp_path, real_data_dir):
    """Three cells of one run (block:1, head, ensemble:2) train it once and read it three ways."""
    from dcl.engine.run import eval_error
    from dcl.predictor import load
    t = build_table("metrics", {
        "source": "Metrics", "arch": "fc", "data": "mnist", "method": "dcl", "values": ["err"],
        "rows": [{"key": "fc"}],
        "cols": [{"key": "b1", "metric": "block:1"}, {"key": "head", "metric": "head"},
                 {"key": "ens", "metric": "ensemble:2"}]})
    res = reproduce(t, out=tmp_path, data_dir=real_data_dir, epochs=1, overrides={"limit_train_batches": 2},
                    log=lambda s: None)
    assert res.counts["trained"] == 1
    got = {r["col"]: r["final_mean"] for r in res.rows}
    run_dir = plan(t, budget=parse_budget(None, 1), out=tmp_path,
                   overrides={"limit_train_batches": 2}).cells[0].runs[0].train_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert got["b1"] == summary["layer_test_errors"][0] and got["head"] == summary["test_error"]
    assert got["ens"] == pytest.approx(eval_error(load(run_dir), "ensemble", p=2.0))
    assert json.loads((run_dir.parent / "posthoc.json").read_text())["ensemble:2"]["epochs"] == 1


def test_wall_time_sums_every_session_of_a_resumed_run(tmp_path):
    """A 6-epoch run: epochs 1-2 by a session killed before it recorded its end, 3-4 by a
    recorded session (100 s, more than its epochs' 70 s: start-up counts), 5-6 by another
    (30 s); the 'wall s' is 11 + 12 + 100 + 30 = 153 s, not the last session's 30 s."""
    from dcl.reproduce.collect import run_wall_seconds
    run = tmp_path / "seed0"
    (run / "train").mkdir(parents=True)
    seconds = {1: 11.0, 2: 12.0, 3: 33.0, 4: 37.0, 5: 14.0, 6: 15.0}
    (run / "train" / "metrics.jsonl").write_text(
        "".join(json.dumps({"epoch": e, "seconds": s}) + "\n" for e, s in seconds.items()))
    sessions = [{"id": "a", "from_epoch": 0, "to_epoch": None, "ended": None},
                {"id": "b", "from_epoch": 2, "to_epoch": 4, "ended": "x", "wall_seconds": 100.0},
                {"id": "c", "from_epoch": 4, "to_epoch": 6, "ended": "y", "wall_seconds": 30.0}]
    (run / "provenance.json").write_text(json.dumps(sessions))
    assert run_wall_seconds(run) == pytest.approx(153.0)
    (run / "provenance.json").write_text(json.dumps(sessions[2:]))    # adopted: only the last session recorded
    assert run_wall_seconds(run) == pytest.approx(11 + 12 + 33 + 37 + 30.0)
    (run / "provenance.json").unlink()
    assert run_wall_seconds(run) == pytest.approx(sum(seconds.values()))
    assert run_wall_seconds(tmp_path / "nothing") is None


def test_a_dry_run_times_one_cell_per_network_and_shape_and_says_which_it_estimated(tmp_path, monkeypatch):
    """`--dry-run` times the first cell of each network, input shape and batch (on a batch of at
    most 16, scaled), and the other cells of that shape reuse its time, naming it; with
    every_cell each cell is timed at its own batch."""
    import dcl.reproduce.api as api
    import dcl.reproduce.costs as costs
    from dcl.reproduce.costs import TIMING_BATCH

    timed = []
    fake = lambda cfg, cache=None, **kw: timed.append(("own", cfg)) or 0.5  # noqa: E731  (no training here)
    monkeypatch.setattr(api, "step_seconds", fake)
    monkeypatch.setattr(costs, "step_seconds", fake)
    t = build_table("dry", {
        "source": "Dry", "arch": "fc", "values": ["err"],
        "rows": [{"key": "mnist", "data": "mnist"}, {"key": "fmnist", "data": "fashion-mnist"},
                 {"key": "c10", "data": "cifar10"}],
        "cols": [{"key": "bp", "method": "bp"}, {"key": "dcl", "method": "dcl"}]})
    _, cells = estimate(t, out=tmp_path / "a", epochs=1)
    by = {(c["row"], c["col"]): c for c in cells}
    # MNIST and Fashion-MNIST share one shape (1x28x28, 10 classes): one timing for 4 cells; CIFAR-10 another
    assert len(timed) == 2 and {cfg.batch_size for _, cfg in timed} == {TIMING_BATCH}
    assert "estimated_from" not in by[("mnist", "bp")] and "estimated_from" not in by[("c10", "bp")]
    assert by[("fmnist", "dcl")]["estimated_from"] == by[("mnist", "bp")]["label"]
    batch = by[("mnist", "dcl")]["batch_size"]
    assert batch > TIMING_BATCH and by[("mnist", "dcl")]["step_seconds"] == pytest.approx(0.5 * batch / TIMING_BATCH)
    timed.clear()
    _, cells = estimate(t, out=tmp_path / "b", epochs=1, every_cell=True)
    assert len(timed) == 6 and {cfg.batch_size for _, cfg in timed} == {c["batch_size"] for c in cells}
    assert not any(c.get("estimated_from") for c in cells)
