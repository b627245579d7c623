"""Prediction modes (Eq. 3, App. C): head, one block's dictionary, the l^p-weighted ensemble,
and ``dcl eval --predict / --p / --sweep-p`` on a tiny trained checkpoint."""
import json

import pytest
import torch

import dcl
import dcl.cli.eval as cli_eval
from dcl.cli import main as cli_main
from dcl.errors import DCLError
from dcl.evaluate import (Scores, check_prediction, ensemble, ensemble_weights, prediction_choices,
                          prediction_error, prediction_scores, sweep_p)
from dcl.engine.run import ensemble_errors_over_p, eval_error, run_scores
from dcl.predictor import load

from conftest import small_dataset
from tiny import tiny_config

S1 = torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
S2 = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
S3 = torch.tensor([[0.0, 0.0, 1.0], [2.0, 0.0, 0.0]])


def test_ensemble_weights_are_l_to_the_p():
    w = ensemble_weights(3, 2.0)
    assert torch.allclose(w * 9, torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))
    assert torch.equal(ensemble_weights(4, 0.0), torch.ones(4, dtype=torch.float64))
    assert torch.isfinite(ensemble_weights(7, 1e6)).all() and torch.isfinite(ensemble_weights(7, -1e6)).all()
    with pytest.raises(DCLError, match="no layer-wise"):
        ensemble_weights(0, 1.0)
    with pytest.raises(DCLError, match="finite"):
        ensemble_weights(3, float("inf"))


def test_ensemble_hand_computed():
    # p = 1: 1*S1 + 2*S2 + 3*S3 = [[3, 4, 3], [6, 1, 2]] -> argmax [1, 0]; scaled by 1/3
    e = ensemble([S1, S2, S3], 1.0)
    assert torch.allclose(e * 3, torch.tensor([[3.0, 4.0, 3.0], [6.0, 1.0, 2.0]]))
    # p = 0: plain sum [[3, 2, 1], [2, 1, 1]] -> argmax [0, 0]
    assert torch.equal(ensemble([S1, S2, S3], 0.0), S1 + S2 + S3)
    assert ensemble([S1, S2, S3], 0.0).argmax(1).tolist() == [0, 0]
    assert e.argmax(1).tolist() == [1, 0]


def test_ensemble_with_a_very_large_p_is_the_last_block():
    g = torch.Generator().manual_seed(0)
    blocks = [torch.randn(200, 10, generator=g) * 100 for _ in range(6)]
    for p in (200.0, 1e4):
        e = ensemble(blocks, p)
        assert torch.equal(e.argmax(1), blocks[-1].argmax(1))
    assert torch.equal(ensemble(blocks, 1e4), blocks[-1])
    assert not torch.equal(ensemble(blocks, 1.0).argmax(1), blocks[-1].argmax(1))


def test_prediction_modes_on_scores():
    labels = torch.tensor([0, 2])
    scores = Scores(labels=labels, head=S2, blocks=[S1, S2, S3])
    assert torch.equal(prediction_scores(scores, "head"), S2)
    assert torch.equal(prediction_scores(scores, "block:1"), S1)
    assert torch.equal(prediction_scores(scores, "block:3"), S3)
    assert prediction_error(scores, "block:1") == 50.0  # predicts [0, 1]
    assert prediction_error(scores, "head") == 50.0  # predicts [1, 2]
    assert prediction_error(scores, "block:2") == 50.0
    assert prediction_error(scores, "ensemble", 0.0) == 50.0  # predicts [0, 0]
    assert [p for p, _ in sweep_p(scores)] == list(range(11))
    assert prediction_choices(3) == ["head", "block:1", "block:2", "block:3", "ensemble"]
    assert prediction_choices(0) == ["head"]


@pytest.mark.parametrize("bad", ["block:0", "block:99", "foo", "block:", "block:1.5", "Block:1", "block:-1", ""])
def test_bad_prediction_modes_list_the_valid_choices(bad):
    with pytest.raises(DCLError) as e:
        check_prediction(bad, 2)
    msg = str(e.value)
    assert repr(bad) in msg and "head" in msg and "block:1..2" in msg and "ensemble" in msg
    with pytest.raises(DCLError, match="no layer-wise"):
        check_prediction("ensemble", 0)


# --- on a tiny trained checkpoint --------------------------------------------------------------
def tiny(method="dcl", **kw):
    return tiny_config(method, **{"batch_size": 64, "width": 64, "eval_batch_size": 1000, **kw})


@pytest.fixture(scope="module")
def small(mnist):
    return small_dataset(mnist, 512, 500)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small):
    root = tmp_path_factory.mktemp("predict")
    dcl.train(tiny(), out=root / "dcl", dataset=small)
    dcl.train(tiny("bp"), out=root / "bp", dataset=small)
    return root


@pytest.fixture
def small_eval(monkeypatch, small):
    """``dcl eval`` on the 500-sample test subset instead of reloading all of MNIST each call."""
    monkeypatch.setattr(cli_eval, "load", lambda ck, **kw: load(ck, dataset=small))


def cli(capsys, *argv):
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_cli_reads_the_real_test_set(trained, capsys, real_data_dir):
    ck = str(trained / "dcl" / "checkpoint.pt")
    code, out, err = cli(capsys, "eval", ck, "--data-dir", str(real_data_dir), "--predict", "block:1", "--json")
    assert code == 0, err
    run = load(ck, data_dir=real_data_dir)
    assert len(run.dataset.test) == 10000
    assert json.loads(out)["test_error"] == pytest.approx(eval_error(run, "block:1"))


def test_eval_cli_prediction_modes(trained, capsys, small, small_eval):
    ck = str(trained / "dcl" / "checkpoint.pt")
    scores = run_scores(load(ck, dataset=small))
    assert scores.labels.numel() == 500 and len(scores.blocks) == 2
    code, out, err = cli(capsys, "eval", ck, "--json")
    assert code == 0, err
    base = json.loads(out)
    for predict, p, want in (("head", 1.0, base["test_error"]), ("block:1", 1.0, base["layer_test_errors"][0]),
                             ("block:2", 1.0, base["layer_test_errors"][1]),
                             ("ensemble", 3.0, prediction_error(scores, "ensemble", 3.0))):
        code, out, err = cli(capsys, "eval", ck, "--predict", predict, "--p", str(p), "--json")
        assert code == 0, err
        res = json.loads(out)
        assert res["test_error"] == pytest.approx(want)
        assert res["test_error"] == pytest.approx(prediction_error(scores, predict, p))
    # a huge p is the last block's prediction
    code, out, _ = cli(capsys, "eval", ck, "--predict", "ensemble", "--p", "1000", "--json")
    assert json.loads(out)["test_error"] == pytest.approx(base["layer_test_errors"][1])
    # text output names the mode
    code, out, _ = cli(capsys, "eval", ck, "--predict", "block:2")
    assert code == 0 and out.startswith("test error (block:2): ")


def test_eval_cli_sweep_p(trained, capsys, small, small_eval):
    ck = str(trained / "dcl")
    code, out, err = cli(capsys, "eval", ck, "--sweep-p")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[2:13]]
    assert [r[0] for r in rows] == [str(p) for p in range(11)]
    code, out, err = cli(capsys, "eval", ck, "--sweep-p", "--json")
    res = json.loads(out)
    lib = ensemble_errors_over_p(load(ck, dataset=small))
    assert [(r["p"], r["test_error"]) for r in res["sweep"]] == [(p, pytest.approx(e)) for p, e in lib]
    assert [float(r[1]) for r in rows] == [pytest.approx(e, abs=0.006) for _, e in lib]


@pytest.mark.parametrize("argv, words", [
    (["--predict", "block:0"], ["'block:0'", "block:1..2", "ensemble"]),
    (["--predict", "block:99"], ["'block:99'", "head"]),
    (["--predict", "foo"], ["'foo'", "head", "block:1..2", "ensemble"]),
    (["--superlabels", "mean"], ["100 CIFAR-100 classes", "10 classes"]),
    (["--superlabels", "best"], ["'best'", "naive", "mean", "super", "all"]),
    (["--sweep-p", "--predict", "head"], ["--sweep-p"]),
])
def test_eval_cli_bad_values_exit_2_with_one_line(trained, capsys, small_eval, argv, words):
    code, out, err = cli(capsys, "eval", str(trained / "dcl"), *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err


def test_eval_cli_models_without_dictionary(trained, capsys, small_eval):
    ck = str(trained / "bp")
    code, out, err = cli(capsys, "eval", ck, "--predict", "head", "--json")
    assert code == 0 and "test_error" in json.loads(out)
    for argv in (["--predict", "ensemble"], ["--predict", "block:1"], ["--sweep-p"]):
        code, out, err = cli(capsys, "eval", ck, *argv)
        assert code == 2 and "Traceback" not in err, argv
