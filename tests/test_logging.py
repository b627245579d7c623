"""Logging: TensorBoard event files (read back with tensorboard's own reader), metrics.csv and
steps.csv (read back with the csv module), callbacks, a Python run that says what it does,
one-line notes for options that cannot apply, and --device auto."""
import csv
import json

import pytest
import torch

import dcl
from dcl.cli import main

from conftest import small_dataset
from tiny import tiny_config


def tiny_cfg(**kw):
    return tiny_config(**{"epochs": 2, "batch_size": 64, "eval_batch_size": 256, "log_every": 2, **kw})


@pytest.fixture(scope="module")
def data(mnist):
    return small_dataset(mnist, 512, 256)


def test_tensorboard_events_and_csv_hold_step_and_epoch_scalars(tmp_path, data):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    dcl.train(tiny_cfg(), tmp_path, dataset=data, log=None)          # 2 epochs of 8 steps
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("step/loss", "step/block1_loss", "step/block2_loss", "step/lr", "step/samples_per_second",
                "step/peak_memory_mb", "epoch/test_error", "epoch/block1_test_error", "epoch/train_loss",
                "epoch/block2_train_loss", "epoch/lr", "epoch/samples_per_second"):
        assert tag in tags, tag
    assert [e.step for e in acc.Scalars("step/loss")] == [2, 4, 6, 8, 10, 12, 14, 16]
    metrics = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    test_err = acc.Scalars("epoch/test_error")
    assert [e.step for e in test_err] == [1, 2]
    assert [e.value for e in test_err] == pytest.approx([r["test_error"] for r in metrics])
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and [int(r["global_step"]) for r in rows] == [8, 16]
    assert [float(r["test_error"]) for r in rows] == pytest.approx([r["test_error"] for r in metrics])
    assert [float(r["block2_test_error"]) for r in rows] == pytest.approx([r["layer_test_errors"][1] for r in metrics])
    with open(tmp_path / "steps.csv", newline="") as f:
        steps = list(csv.DictReader(f))
    assert [int(r["global_step"]) for r in steps] == [2, 4, 6, 8, 10, 12, 14, 16]
    assert [float(r["loss"]) for r in steps] == pytest.approx([e.value for e in acc.Scalars("step/loss")])
    assert all(float(r["samples_per_second"]) > 0 and float(r["peak_memory_mb"]) > 0 for r in steps)


def test_without_tensorboard_a_one_line_note_and_the_csv_still(tmp_path, data, monkeypatch):
    monkeypatch.setattr("dcl.engine.callbacks.tensorboard_available", lambda: False)
    lines = []
    dcl.train(tiny_cfg(epochs=1), tmp_path, dataset=data, log=lines.append)
    notes = [x for x in lines if "TensorBoard logging is off" in x]
    assert len(notes) == 1 and "pip install 'dcl-local[tensorboard]'" in notes[0]
    assert not (tmp_path / "tensorboard").exists() and (tmp_path / "metrics.csv").is_file()


def test_a_users_callback_sees_every_step_and_epoch(data):
    from dcl.engine.callbacks import Callback

    class Recorder(Callback):
        def __init__(self):
            self.steps, self.epochs, self.ended = [], [], None

        def on_step(self, run, step):
            self.steps.append((step.global_step, step.epoch, step.step, float(step.stats["loss"])))

        def on_epoch_end(self, run, record):
            self.epochs.append(record["test_error"])

        def on_train_end(self, run, summary):
            self.ended = summary["epochs"]

    rec = Recorder()
    s = dcl.train(tiny_cfg(), dataset=data, callbacks=[rec], log=None)
    assert [g for g, *_ in rec.steps] == list(range(1, 17))
    assert [(e, k) for _, e, k, _ in rec.steps][7:9] == [(1, 8), (2, 1)]
    assert rec.epochs[-1] == s["test_error"] and rec.ended == 2


def test_python_train_says_what_it_does_by_default(data, capsys):
    dcl.train(tiny_cfg(epochs=1), dataset=data)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("dcl train: fc on mnist with dcl") and "device cpu" in out[0]
    assert out[1].startswith("epoch   1/1  loss ")


def test_amp_on_cpu_says_it_has_no_effect(capsys, tmp_path, data):
    lines = []
    dcl.train(tiny_cfg(epochs=1, amp=True, device="cpu"), dataset=data, log=lines.append)
    assert "note: amp=true has no effect on cpu: bf16 autocast is used on CUDA only; training in float32" in lines


def test_device_auto_is_the_default_and_picks_what_is_there(capsys, tmp_path, real_data_dir):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    code = main(["train", "--arch", "fc", "--data", "mnist", "--device", "auto", "--epochs", "1",
                 "--limit-train-batches", "1", "--set", "width=32", "--set", "segments=4", "--set", "tensorboard=false",
                 "--data-dir", str(real_data_dir), "--out", str(tmp_path / "r"), "--no-progress", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["device"].startswith(expected)
    from dcl.devices import resolve_device
    assert dcl.TrainConfig().device == "auto"
    assert resolve_device("auto").type == expected


def test_evaluation_shows_progress(data, capsys):
    from dcl.engine import build_run, evaluate_run
    run = build_run(tiny_cfg(eval_batch_size=64), dataset=data)
    evaluate_run(run, "test", progress=True)
    assert "eval test" in capsys.readouterr().err
