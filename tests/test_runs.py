"""Run folders from the command line: file modes, overwrite protection, what a resume may
change, automatic folders, provenance, model selection on a validation split, config files
that repeat a run, `dcl runs` (table and plot), `dcl demo` checks names first."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcl.cli import main

from smallmnist import N_TRAIN, small_mnist_dir  # noqa: F401  (fixture)
from tiny import tiny_set_options


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def tiny(data_dir, *extra, epochs=1, batches=3):
    """A quick FC run on (a small copy of) real MNIST: width 32, a few batches of 128 per epoch."""
    return ["train", "--arch", "fc", "--data", "mnist", "--epochs", str(epochs), "--limit-train-batches",
            str(batches), "--batch-size", "128", *tiny_set_options("fc"), "--data-dir",
            str(data_dir), "--no-progress", "--set", "tensorboard=false", *extra]


def one_line_error(code, err, needle):
    assert code == 2, err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_run_files_get_the_umask_mode_not_0600(capsys, tmp_path, small_mnist_dir):
    old = os.umask(0o022)
    try:
        code, _, err = cli(capsys, *tiny(small_mnist_dir, "--out", tmp_path / "run"))
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("checkpoint.pt", "summary.json", "metrics.jsonl", "metrics.csv", "config.toml"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name


def test_an_existing_run_is_not_overwritten_without_overwrite(capsys, tmp_path, small_mnist_dir):
    out = tmp_path / "run"
    assert cli(capsys, *tiny(small_mnist_dir, "--out", out, epochs=2))[0] == 0
    before = (out / "summary.json").read_text()
    code, _, err = cli(capsys, *tiny(small_mnist_dir, "--out", out, "--method", "bp"))
    one_line_error(code, err, f"{out} already holds a run; pass --overwrite")
    assert (out / "summary.json").read_text() == before  # the DCL run is intact
    code, _, err = cli(capsys, *tiny(small_mnist_dir, "--out", out, "--method", "bp", "--overwrite"))
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "bp" and s["epochs"] == 1
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # no rows left from the old run


def test_resume_describes_the_resumed_run_and_refuses_other_flags(capsys, tmp_path, small_mnist_dir):
    out = tmp_path / "conv"
    code, _, err = cli(capsys, "train", "--arch", "conv", "--data", "mnist", "--epochs", "1", "--limit-train-batches",
                       "2", "--set", "channels=4,8", "--data-dir", small_mnist_dir, "--no-progress", "--out", out)
    assert code == 0, err
    # every flag but the changeable ones is refused in one line, naming the field
    for flags, field in ((["--lr", "0.1"], "lr"), (["--limit-train-batches", "10"], "limit_train_batches"),
                         (["--set", "dropout=0.1"], "dropout"), (["--method", "bp"], "method"),
                         (["--arch", "fc"], "arch")):
        code, _, err = cli(capsys, "train", "--out", out, "--resume", "--epochs", "2", *flags, "--data-dir",
                           small_mnist_dir, "--no-progress")
        one_line_error(code, err, f"--resume continues the run as it was configured: {field} is ")
    code, text, err = cli(capsys, "train", "--out", out, "--resume", "--epochs", "2", "--data-dir", small_mnist_dir,
                          "--no-progress")
    assert code == 0, err
    header = text.splitlines()[0]
    assert header.startswith("dcl train: conv on mnist with dcl") and "2 epochs" in header, header
    assert "resuming after epoch 1" in header
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2


def test_resume_without_epochs_keeps_the_runs_own_count(tmp_path, small_mnist_dir, capsys):
    out = tmp_path / "run"
    assert main(tiny(small_mnist_dir, "--out", str(out))) == 0
    env = {**os.environ, "DCL_DATA_DIR": str(small_mnist_dir)}
    mtime = (out / "checkpoint.pt").stat().st_mtime_ns
    try:  # before the fix this trained on towards the default preset's 150 epochs
        r = subprocess.run([sys.executable, "-m", "dcl", "train", "--out", str(out), "--resume", "--no-progress"],
                           env=env, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("--resume of a finished 1-epoch run went on training")
    assert r.returncode == 0, r.stderr
    assert "1 epochs" in r.stdout.splitlines()[0]
    assert f"nothing to train: {out} is already at epoch 1 of 1" in r.stdout
    assert "wrote" not in r.stdout  # it wrote nothing, and says nothing of the kind
    assert (out / "checkpoint.pt").stat().st_mtime_ns == mtime


def test_without_out_a_fresh_named_folder_with_provenance(capsys, tmp_path, small_mnist_dir):
    runs = tmp_path / "runs"
    for _ in range(2):
        assert cli(capsys, *tiny(small_mnist_dir, "--runs-dir", runs))[0] == 0
    folders = sorted(runs.iterdir())
    assert len(folders) == 2 and all(f.name.startswith("fc-mnist-dcl-") for f in folders)
    s = json.loads((folders[0] / "summary.json").read_text())
    import dcl
    assert s["dcl_version"] == dcl.__version__
    git = subprocess.run(["git", "-C", str(Path(dcl.__file__).parent), "rev-parse", "HEAD"], capture_output=True,
                         text=True)
    assert s["git_commit"] == (git.stdout.strip() if git.returncode == 0 else None)
    assert s["epochs_truncated"] is True and s["batches_per_epoch"] == 3
    assert s["full_batches_per_epoch"] == -(-N_TRAIN // 128)  # 23 full batches of 128 + one of 56


def test_val_split_selects_the_best_epoch_and_keeps_best_pt(capsys, tmp_path, small_mnist_dir):
    out = tmp_path / "run"
    code, text, err = cli(capsys, *tiny(small_mnist_dir, "--out", out, "--val-split", "1000", "--set", "lr=0.003",
                                        epochs=3, batches=4))
    assert code == 0, err
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    s = json.loads((out / "summary.json").read_text())
    best = min(rows, key=lambda r: r["val_error"])
    assert s["selected_by"] == "val_error"
    assert s["best_epoch"] == best["epoch"] and s["best_val_error"] == best["val_error"]
    assert s["test_error_at_best_val"] == best["test_error"]
    assert s["best_test_error"] == min(r["test_error"] for r in rows)   # the paper's convention, kept beside it
    assert "chosen on validation" in text
    saved = torch.load(out / "best.pt", weights_only=True)
    assert saved["epoch"] == best["epoch"]
    import dcl
    from dcl.data import load_dataset
    test = load_dataset("mnist", small_mnist_dir).test  # the 1,000 test images
    pred = dcl.load(out / "best.pt").predict(test.images)
    err_best = 100.0 * float((pred.classes != test.labels).float().mean())
    assert err_best == pytest.approx(s["test_error_at_best_val"], abs=1e-4)


def test_config_file_repeats_a_run_exactly(capsys, tmp_path, small_mnist_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(capsys, *tiny(small_mnist_dir, "--out", a, "--set", "dropout=0.1", "--seed", "3", epochs=2))[0] == 0
    code, _, err = cli(capsys, "train", "--config", a / "config.toml", "--out", b, "--data-dir", small_mnist_dir,
                       "--no-progress")
    assert code == 0, err
    ra = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    for key in ("train_loss", "block_losses", "test_error", "layer_test_errors", "lr"):
        assert [r[key] for r in ra] == [r[key] for r in rb], key
    assert (a / "config.toml").read_text() == (b / "config.toml").read_text()
    # dcl config show prints the same resolved config, and flags override the file
    code, shown, _ = cli(capsys, "config", "show", "--config", a / "config.toml", "--set", "lr=0.01")
    assert code == 0 and "lr = 0.01" in shown and "dropout = 0.1" in shown and "seed = 3" in shown
    code, fields, _ = cli(capsys, "config", "fields")
    assert code == 0 and "checkpoint_every" in fields and "hold out this many training samples" in fields
    (tmp_path / "bad.toml").write_text("lr = 'fast'\n")
    code, _, err = cli(capsys, "train", "--config", tmp_path / "bad.toml")
    one_line_error(code, err, "bad value 'fast' for lr")


def test_dcl_runs_table_filter_sort_and_plot(capsys, tmp_path, small_mnist_dir):
    root = tmp_path / "runs"
    for method in ("dcl", "bp", "dcl-s"):
        assert cli(capsys, *tiny(small_mnist_dir, "--method", method, "--out", root / method, epochs=2, batches=2))[0] == 0
    code, text, err = cli(capsys, "runs", root)
    assert code == 0, err
    lines = text.splitlines()
    assert "final err %" in lines[0] and "samples/s" in lines[0] and len(lines) == 2 + 3
    code, text, _ = cli(capsys, "runs", root, "--filter", "method=dcl*", "--sort=-method")
    rows = text.splitlines()[2:]
    assert [r.split()[3] for r in rows] == ["dcl-s", "dcl"]
    code, text, _ = cli(capsys, "runs", root, "--json", "--sort", "best_test_error")
    errs = [r["best_test_error"] for r in json.loads(text)]
    assert errs == sorted(errs)
    full = -(-N_TRAIN // 128)
    for r in json.loads(text):  # cut short, one process, and on what
        assert (r["batches"], r["ranks"], r["world_size"], r["replicas"], r["stages"], r["backend"]) == \
            (f"2/{full}", "1", 1, 1, 1, None)
        assert r["device_names"].startswith("cpu (")
    header = lines[0].split()
    assert "batches/ep" in header and "ranks" in header and f"2/{full}" in lines[2].split()
    code, _, err = cli(capsys, "runs", root, "--sort", "nonsense")
    one_line_error(code, err, "unknown column 'nonsense'")
    png = tmp_path / "curves.png"
    code, text, err = cli(capsys, "runs", root, "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_demo_checks_every_method_name_before_training(capsys, tmp_path):
    # an empty data folder: before the fix the demo went looking for data (and trained BP) first
    code, out, err = cli(capsys, "demo", "--methods", "bp,dlc", "--data-dir", tmp_path, "--out", tmp_path / "d")
    one_line_error(code, err, "unknown method 'dlc'; valid choices:")
    assert "--- bp" not in out


def test_demo_saves_its_table(capsys, tmp_path, small_mnist_dir, monkeypatch):
    import dcl.reproduce.demo
    real = dcl.reproduce.demo.resolve_config
    monkeypatch.setattr(dcl.reproduce.demo, "resolve_config",  # the demo's own code path, on a few batches
                        lambda **kw: real(**kw, limit_train_batches=2, width=32, segments=4))
    code, out, err = cli(capsys, "demo", "--epochs", "1", "--data", "mnist", "--data-dir", small_mnist_dir,
                         "--out", tmp_path / "d")
    assert code == 0, err
    table = (tmp_path / "d" / "table.txt").read_text()
    assert "method" in table and "\ndcl " in table and "\nbp " in table
    assert (tmp_path / "d" / "dcl" / "summary.json").is_file()


def test_an_interrupted_run_names_the_command_that_resumes_it(capsys, tmp_path, small_mnist_dir, monkeypatch):
    """Ctrl-C in epoch 2: the last line is the resume command, which then finishes the run."""
    import dcl.engine.loop as loop
    train_epoch, calls = loop.train_epoch, []

    def interrupted_in_epoch_2(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train_epoch(*args, **kw)

    monkeypatch.setattr(loop, "train_epoch", interrupted_in_epoch_2)
    out = tmp_path / "run"
    code, _, err = cli(capsys, *tiny(small_mnist_dir, "--out", out, epochs=2, batches=2))
    assert code == 130
    last = err.strip().splitlines()[-1]
    assert last == f"dcl train: interrupted; resume it with: dcl train --out {out} --resume --data-dir {small_mnist_dir}"
    monkeypatch.setattr(loop, "train_epoch", train_epoch)
    code, text, err = cli(capsys, *last.split(": ", 2)[2].split()[1:], "--no-progress")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2
    monkeypatch.setattr(loop, "train_epoch", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    code, _, err = cli(capsys, *tiny(small_mnist_dir, "--out", tmp_path / "new"))
    assert code == 130 and err.strip().splitlines()[-1].endswith("nothing to resume (start it again)")
    assert not (tmp_path / "new").exists()
