"""--checkpoint-every: a run killed mid-epoch resumes to the same weights as an uninterrupted one."""
import json

import pytest
import torch

import dcl
from dcl import resolve_config
from dcl.engine.callbacks import Callback

from conftest import small_dataset


class Killed(Exception):
    pass


class KillAt(Callback):
    """Dies after training step ``n``, before anything else of that step is saved."""

    def __init__(self, n):
        self.n = n

    def on_step(self, run, step):
        if step.global_step == self.n:
            raise Killed(f"killed at step {self.n}")


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(fashion_mnist, tmp_path):
    # Fashion-MNIST (random flips) and dropout: the data order, augmentation and dropout RNG must all
    # continue exactly where the step checkpoint was taken, in the middle of epoch 2
    data = small_dataset(fashion_mnist, 512, 128)
    cfg = resolve_config(arch="fc", data="fashion-mnist", method="dcl", epochs=3, batch_size=64, width=32,
                         segments=4, dropout=0.2, milestones=(2,), checkpoint_every=3, log_every=1,
                         tensorboard=False)
    full = dcl.train(cfg, tmp_path / "full", dataset=data, log=None)
    with pytest.raises(Killed):
        dcl.train(cfg, tmp_path / "cut", dataset=data, log=None, callbacks=[KillAt(14)])
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 12 and state["partial_epoch"]["steps"] == 4
    lines = []
    resumed = dcl.train(None, tmp_path / "cut", dataset=data, resume=True, log=lines.append)
    assert "resuming after epoch 1 + 4 steps" in lines[0]
    wa = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    wb = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    for part in ("net", "aux"):
        assert wa[part].keys() == wb[part].keys()
        assert all(torch.equal(wa[part][k], wb[part][k]) for k in wa[part]), part
    for key in ("test_error", "layer_test_errors", "best_test_error", "epochs", "global_steps"):
        assert resumed[key] == full[key], key
    a = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]
    assert [r["block_losses"] for r in a] == [r["block_losses"] for r in b]
    # the per-step log continues without gaps or repeats, with the uninterrupted run's losses
    # (columns: global_step, epoch, loss, block1_loss, block2_loss, lr; then timings)
    cut = [r.split(",")[:6] for r in (tmp_path / "cut" / "steps.csv").read_text().splitlines()]
    whole = [r.split(",")[:6] for r in (tmp_path / "full" / "steps.csv").read_text().splitlines()]
    assert [int(r[0]) for r in cut[1:]] == list(range(1, 25))
    assert cut == whole
