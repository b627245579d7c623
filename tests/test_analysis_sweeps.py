"""Training sweeps (dcl.analysis.sweeps): resumable, reuse their runs, right configs per point."""
from __future__ import annotations

import json

import pytest
import torch

import dcl
import dcl.analysis
from dcl.analysis.sweeps import Sweep, config_key
from dcl.analysis.sweeps.dictionary import dictionary_sweep
from dcl.analysis.sweeps.ensemble import ensemble_errors
from dcl.analysis.sweeps.losses import losses_sweep
from dcl.analysis.sweeps.segments import segment_points, segments_sweep
from dcl.analysis.sweeps.similarity import similarity_sweep
from dcl.errors import DCLError
from dcl.evaluate import collect_scores, sweep_p
from dcl.methods.dcl import dictionary_row_norm

from conftest import small_dataset

TINY = dict(epochs=1, batch_size=64, limit_train_batches=3, eval_batch_size=256, width=32)


@pytest.fixture(scope="module")
def tiny_fmnist(fashion_mnist):
    return small_dataset(fashion_mnist, 256, 128)


def counting_sweep(runs_dir, ds, calls, **overrides):
    def train_fn(cfg, out, **kw):
        calls.append((cfg.to_dict(), str(out), kw["resume"]))
        return dcl.train(cfg, out, **kw)

    return Sweep("fc", ds.spec.name, runs_dir, {**TINY, "segments": 4, **overrides}, dataset=ds, train_fn=train_fn)


def test_sweep_is_resumable_and_trains_no_point_twice(tmp_path, tiny_fmnist):
    calls = []
    res = segments_sweep(counting_sweep(tmp_path, tiny_fmnist, calls), [1, 2])
    assert len(calls) == 2 and [r.cfg.segments for r in res] == [1, 2] and all(r.trained for r in res)
    assert len({r.folder for r in res}) == 2 and all((r.folder / "point.json").is_file() for r in res)
    # a rerun (and another sweep sharing the runs folder) reuses every finished point
    again = segments_sweep(counting_sweep(tmp_path, tiny_fmnist, calls), [2, 1, 4])
    assert len(calls) == 3 and calls[-1][0]["segments"] == 4
    assert [r.trained for r in again] == [False, False, True]
    assert again[0].summary == res[1].summary
    # an interrupted point (checkpoint at epoch 1 of 2) resumes instead of starting over
    sweep = counting_sweep(tmp_path, tiny_fmnist, calls, epochs=2)
    cfg = sweep.config(segment_points([2])[0], {})
    folder = tmp_path / config_key(cfg, tmp_path)
    dcl.train(cfg.replace(epochs=1), folder, dataset=tiny_fmnist)
    first = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    (r,) = segments_sweep(sweep, [2])
    assert calls[-1][2] is True and r.folder == folder and r.summary["epochs"] == 2
    assert json.loads((folder / "metrics.jsonl").read_text().splitlines()[0]) == first
    assert len(calls) == 4


def test_segments_sweep_needs_flat_blocks(tmp_path, tiny_fmnist):
    sweep = Sweep("conv", "fashion-mnist", tmp_path, {**TINY, "channels": "4,8"}, dataset=tiny_fmnist)
    with pytest.raises(DCLError, match="flat"):
        segments_sweep(sweep, [1, 2])


def test_similarity_and_dictionary_points(tmp_path, tiny_fmnist):
    calls = []
    sim = similarity_sweep(counting_sweep(tmp_path, tiny_fmnist, calls, segments=2), [0.1, 1.0])
    assert [(r.cfg.similarity, r.cfg.temperature) for r in sim] == [("dot", None), ("cosine", 0.1), ("cosine", 1.0)]
    d = dictionary_sweep(counting_sweep(tmp_path, tiny_fmnist, calls, segments=2))  # C = 16 >= Z
    assert [(r.cfg.method, r.cfg.dict_init) for r in d] == [("dcl", "normal"), ("dcl-s", "normal"),
                                                            ("dcl-s", "orthogonal")]
    assert d[0].folder == sim[0].folder and not d[0].trained  # D^Z is the dot-product run: reused
    zn = dictionary_row_norm(d[0].folder)
    for r in d[1:]:
        assert r.cfg.dict_norm_from == str(d[0].folder)
        w = torch.load(r.folder / "checkpoint.pt", weights_only=True)["aux"]["dictionary.weight"]
        assert torch.allclose(w.norm(dim=1), torch.full((10,), zn), rtol=1e-5)
    assert len(calls) == 5


def test_losses_sweep_over_method_names_and_ensemble(tmp_path, tiny_fmnist):
    sweep = Sweep("fc", "fashion-mnist", tmp_path, {**TINY, "segments": 4}, dataset=tiny_fmnist)
    with pytest.raises(DCLError, match="unknown method 'no-such'"):
        losses_sweep(sweep, ["dcl", "no-such"])
    assert not list(tmp_path.iterdir())  # a bad name fails before anything trains
    res = losses_sweep(sweep, ["dcl", "dcl-s"], probe_samples=256, probe_epochs=5)
    assert [r.method for r in res] == ["dcl", "dcl-s"]
    for r in res:
        assert len(r.blocks) == 2 and all(0 <= e <= 100 for e in r.blocks) and 0 <= r.head <= 100
    run = dcl.load(res[0].folder, dataset=tiny_fmnist)
    e = ensemble_errors(run, [0, 2])
    assert e.errors == sweep_p(collect_scores(run.net, run.method, run.eval_loader("test")), [0, 2])
