"""The command line: bad input gives one line, exit status 2, no traceback; train/eval/list work."""
import gzip
import json
import subprocess
import sys

import pytest

from dcl.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv, needle", [
    (["train", "--arch", "resnet9000"], "unknown architecture 'resnet9000'; valid choices: "),
    (["train", "--method", "magic"], "unknown method 'magic'; valid choices: "),
    (["train", "--data", "imagenet"], "unknown dataset 'imagenet'; valid choices: "),
    (["train", "--preset", "fc-imagenet"], "unknown preset 'fc-imagenet'; valid choices: "),
    (["train", "--set", "dropout=2"], "dropout must be a finite number in [0, 1), got 2.0"),
    (["train", "--set", "lr=fast"], "bad value 'fast' for lr"),
    (["train", "--set", "bogus=1"], "unknown config field 'bogus'"),
    (["train", "--set", "noequals"], "expected FIELD=VALUE"),
    (["train", "--epochs", "0"], "epochs must be an integer in [1, 16777216], got 0"),
    (["train", "--set", "similarity=l1"], "unknown similarity 'l1'; valid choices: dot, cosine"),
    (["train", "--device", "tpu"], "unknown device 'tpu'"),
    (["list", "things"], "unknown kind 'things'"),
    (["eval", "/nonexistent/run"], "no checkpoint at"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "three"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid int value: 'three'" in err and len(err.strip().splitlines()) == 1


def test_wrong_shape_segments_is_a_user_error(capsys, real_data_dir):
    code, _, err = run_cli(capsys, "train", "--arch", "fc", "--data", "mnist", "--set", "segments=7",
                           "--epochs", "1", "--data-dir", str(real_data_dir))
    assert code == 2 and "segments K=7 must divide the FC width 1024" in err


def test_missing_data_says_where_it_looked(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DCL_DATA_DIR", str(tmp_path))
    code, _, err = run_cli(capsys, "train", "--arch", "fc", "--data", "mnist", "--epochs", "1")
    assert code == 2
    assert f"no mnist data found (looked in: {tmp_path / 'mnist'}" in err and "dcl data fetch mnist" in err


def test_truncated_data_file_is_named(capsys, tmp_path, real_data_dir):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in (real_data_dir / "mnist").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    labels.write_bytes(gzip.compress(raw[:-100]))
    code, _, err = run_cli(capsys, "train", "--arch", "fc", "--data", "mnist", "--epochs", "1",
                           "--data-dir", str(tmp_path))
    assert code == 2 and str(labels) in err and "truncated" in err


def test_real_subprocess_exit_status_and_no_traceback():
    r = subprocess.run([sys.executable, "-m", "dcl", "train", "--arch", "nope"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == "dcl train: error: unknown architecture 'nope'; valid choices: " + \
        ", ".join(__import__("dcl").ARCHS.names())


def test_list_shows_every_registry(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for word in ("archs:", "methods:", "datasets:", "presets:", "fc ", "conv ", "dcl-s ", "bp ", "mnist ", "fc-mnist "):
        assert word in out


def test_train_then_eval_through_the_cli(capsys, tmp_path, real_data_dir):
    out_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--arch", "fc", "--data", "mnist", "--method", "dcl", "--epochs", "1",
                             "--limit-train-batches", "5", "--set", "width=64", "--set", "segments=4",
                             "--data-dir", str(real_data_dir), "--out", str(out_dir), "--no-progress")
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["delta_params"] == 160
    code, out, err = run_cli(capsys, "eval", str(out_dir / "checkpoint.pt"), "--data-dir", str(real_data_dir), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["test_error"] == pytest.approx(summary["test_error"])
    assert res["layer_test_errors"] == pytest.approx(summary["layer_test_errors"])
