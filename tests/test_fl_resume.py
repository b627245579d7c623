"""Checkpoints of every forward-learning method resume exactly: 1 epoch + resume = 2 epochs."""
import json

import pytest
import torch

from dcl import resolve_config, train
from dcl.engine.run import eval_error
from dcl.predictor import load

from conftest import small_dataset

CASES = {
    "ff": dict(arch="fc", width=32, segments=4, batch_size=64, ff_negatives="hard"),
    "symba": dict(arch="conv", channels=(4, 8), batch_size=64),
    "pff": dict(arch="pff", width=20, pff_group=10, pff_steps=2, pff_latent=3, batch_size=64),
    "cafo": dict(arch="cafo", channels=(2, 4, 8), cafo_steps=3, eval_batch_size=100),
    "drtp": dict(arch="drtp-conv", width=16, batch_size=64, dropout=0.2),
}


@pytest.fixture(scope="module")
def data(mnist):
    return small_dataset(mnist, 256, 100)


@pytest.mark.parametrize("method", list(CASES))
def test_resume_is_exact(method, data, tmp_path):
    kw = dict(CASES[method])
    cfg = resolve_config(arch=kw.pop("arch"), data="mnist", method=method, epochs=2, **kw)
    full = train(cfg, tmp_path / "full", dataset=data)
    train(cfg.replace(epochs=1), tmp_path / "cut", dataset=data)
    resumed = train(cfg, tmp_path / "cut", dataset=data, resume=True)
    for key in ("test_error", "layer_test_errors", "params", "epochs"):
        assert resumed[key] == full[key], key
    a, b = ([json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in ("full", "cut"))
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]
    assert [r["block_losses"] for r in a] == [r["block_losses"] for r in b]
    wa, wb = (torch.load(tmp_path / run / "checkpoint.pt", weights_only=True) for run in ("full", "cut"))
    for part in ("net", "aux"):
        assert wa[part].keys() == wb[part].keys()
        assert all(torch.equal(wa[part][k], wb[part][k]) for k in wa[part]), part
    # dcl eval's path: the method's own inference is the default prediction
    run = load(tmp_path / "cut", dataset=data)
    assert eval_error(run, run.method.default_prediction) == pytest.approx(full["test_error"])
