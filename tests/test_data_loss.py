"""Nothing lost: two writers on one run folder, a kill during a checkpoint write, a full disk and
read-only folders each end in one line (or a killed process) with the earlier run intact.

The full-disk and read-only cases mount a small tmpfs, which needs root; elsewhere they are
skipped with that reason. The two-writer and kill cases run real ``dcl`` processes.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from badinputs import make_tiny_run
from dataformats import make_targz, write_cifar10
from dcl.cli import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("loss"))


def fresh_run(tiny_run, dest: Path) -> Path:
    """A copy of the finished 1-epoch run in ``dest``."""
    shutil.copytree(tiny_run[1], dest)
    return dest


def train_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--arch", "fc", "--data", "mnist", "--data-dir", str(data), "--batch-size", "16",
            "--limit-train-batches", "2", "--set", "width=32", "--no-progress", "--out", str(out), *extra]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


# --------------------------------------------------------------------------- two writers
def test_second_writer_is_refused_and_the_first_run_is_intact(tiny_run, tmp_path):
    data = tiny_run[0]
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "dcl", *train_argv(data, out, "--epochs", "30")]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        lock = out / ".dcl-lock"
        deadline = time.monotonic() + 240
        while not (lock.is_file() and lock.read_text().strip() == str(first.pid)):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.002)
        os.kill(first.pid, signal.SIGSTOP)  # hold it mid-run, lock held, while the second one tries
        second = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300)
        os.kill(first.pid, signal.SIGCONT)
        assert second.returncode == 2
        line = one_line(second.stderr)
        assert f"in use by pid {first.pid}" in line and str(out) in line
        out_text, err_text = first.communicate(timeout=600)
        assert first.returncode == 0, err_text
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGCONT)
            first.kill()
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 30 and len(state["history"]) == 30
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 30
    assert not temp_files(out)


def test_the_lock_names_this_process_and_is_released(tiny_run, tmp_path, capsys):
    from dcl.engine.lock import hold_run_folder
    out = tmp_path / "run"
    with hold_run_folder(out):
        assert main(train_argv(tiny_run[0], out, "--epochs", "1")) == 2
        assert f"in use by pid {os.getpid()}" in one_line(capsys.readouterr().err)
        assert not (out / "checkpoint.pt").exists()
    assert main(train_argv(tiny_run[0], out, "--epochs", "1")) == 0  # released: the folder is usable


# ----------------------------------------------------------------- kill during a write
DYING_SAVE = """
import os, signal, sys, torch
def dying_save(obj, f, *args, **kwargs):   # writes part of a checkpoint, then the process is killed
    f.write(b"\\0" * 200_000)
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
from dcl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_during_checkpoint_write_keeps_the_checkpoint_and_the_temp_file_is_cleaned(tiny_run, tmp_path, capsys):
    run = fresh_run(tiny_run, tmp_path / "run")
    before = (run / "checkpoint.pt").read_bytes()
    p = subprocess.run([sys.executable, "-c", DYING_SAVE, *train_argv(tiny_run[0], run, "--resume", "--epochs", "2")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert (run / "checkpoint.pt").read_bytes() == before  # the old checkpoint, whole
    left = temp_files(run)
    assert len(left) == 1 and left[0].name.startswith(".checkpoint.pt.") and left[0].stat().st_size == 200_000
    # the next run on the folder removes it (and the kill released the lock) and resumes
    assert main(train_argv(tiny_run[0], run, "--resume", "--epochs", "2")) == 0
    capsys.readouterr()
    assert not temp_files(run)
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 2


# -------------------------------------------------------- full disk, read-only folders
@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs at ``path`` for the test's duration (root only; skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (full disk, read-only folder) needs root")
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def fill(folder: Path) -> None:
    """Write zeros into ``folder`` until its file system is full."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_full_disk_is_one_line_and_the_previous_checkpoint_is_kept(tiny_run, tmp_path, capsys):
    with tmpfs(tmp_path / "small", "2m") as small:
        run = fresh_run(tiny_run, small / "run")
        before = (run / "checkpoint.pt").read_bytes()
        fill(small)
        code = main(train_argv(tiny_run[0], run, "--resume", "--epochs", "2"))
        line = one_line(capsys.readouterr().err)
        # the first run file written (config.toml or checkpoint.pt) is the one that fails
        assert code == 2 and "no space left on device" in line and str(run) in line and "is kept" in line
        assert (run / "checkpoint.pt").read_bytes() == before and not temp_files(run)


def test_out_on_a_read_only_file_system(tiny_run, tmp_path, capsys):
    with tmpfs(tmp_path / "ro", "1m") as ro:
        (ro / "existing").mkdir()
        read_only(ro)
        for out in (ro / "new", ro / "existing"):
            assert main(train_argv(tiny_run[0], out, "--epochs", "1")) == 2
            line = one_line(capsys.readouterr().err)
            assert str(out) in line and "read-only file system" in line


def test_cifar_archive_in_a_read_only_folder(tmp_path, capsys):
    src = tmp_path / "src"
    write_cifar10(src, per_batch=4, n_test=4)
    with tmpfs(tmp_path / "data", "4m") as data:
        (data / "cifar10").mkdir()
        archive = make_targz(src, "cifar-10-batches-py", data / "cifar10" / "cifar-10-python.tar.gz")
        read_only(data)
        code = main(["train", "--data", "cifar10", "--arch", "fc", "--data-dir", str(data), "--epochs", "1"])
        line = one_line(capsys.readouterr().err)
        assert code == 2 and str(archive) in line and "read-only file system" in line
        assert sorted(p.name for p in (data / "cifar10").iterdir()) == ["cifar-10-python.tar.gz"]


# ------------------------------------------------------------------- a failed start leaves nothing
def test_a_train_that_fails_before_its_first_epoch_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """A missing dataset: no run folder (not even a lock file), no runs/ made for it; an existing
    folder gets back only what it held; a folder that holds a run keeps it."""
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "no-data"
    empty.mkdir()
    argv = ["train", "--arch", "fc", "--data", "mnist", "--data-dir", str(empty), "--epochs", "1", "--no-progress"]
    assert main(argv) == 2 and "no-data" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()  # the automatic runs/ARCH-DATA-METHOD-TIME/, and runs/ itself
    assert main([*argv, "--out", str(tmp_path / "a" / "b")]) == 2
    assert not (tmp_path / "a").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    assert main([*argv, "--out", str(mine)]) == 2
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    capsys.readouterr()


def test_a_failed_start_keeps_a_finished_run_and_a_resume_keeps_its_folder(tiny_run, tmp_path, capsys):
    run = fresh_run(tiny_run, tmp_path / "run")
    before = sorted(p.name for p in run.iterdir())
    argv = ["train", "--arch", "fc", "--data", "mnist", "--data-dir", str(tmp_path / "none"), "--no-progress"]
    assert main([*argv, "--out", str(run), "--overwrite", "--epochs", "1"]) == 2
    assert sorted(p.name for p in run.iterdir()) == before  # --overwrite removes the old run only once it can start
    run2 = fresh_run(tiny_run, tmp_path / "run2")
    assert main(["train", "--out", str(run2), "--resume", "--epochs", "3", "--data-dir", str(tmp_path / "none"),
                 "--no-progress"]) == 2
    assert sorted(p.name for p in run2.iterdir()) == before
    capsys.readouterr()
