"""CIFAR-10/100/20, SVHN, STL-10 and K-MNIST read from small files written in each real
format; archives unpacked safely; malicious pickles refused; bad files named; the CLI."""
import io
import json
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from dataformats import (cifar_batch, make_targz, py2_pickle, random_images, write_cifar10, write_cifar100,
                         write_idx_dataset, write_stl10, write_svhn)
from dcl.cli import main
from dcl.data import DATASETS, load_dataset, pixel_stats
from dcl.data.safe_pickle import load_pickle
from dcl.errors import DCLError


def no_leftovers(folder):
    """No hidden temporary folders or .part files under ``folder``."""
    return not [p for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]


# ----------------------------------------------------------------------------------- CIFAR
def test_cifar10_batches_read_channel_major(tmp_path):
    ref = write_cifar10(tmp_path / "cifar10")
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train.images.shape == (30, 3, 32, 32) and ds.train.images.dtype == torch.uint8
    assert ds.test.images.shape == (8, 3, 32, 32) and ds.train.labels.dtype == torch.int64
    assert np.array_equal(ds.train.images.numpy(), ref["train_x"])  # batches 1..5 in order
    assert np.array_equal(ds.train.labels.numpy(), ref["train_y"])
    assert np.array_equal(ds.test.images.numpy(), ref["test_x"])
    assert 0 <= int(ds.train.labels.min()) and int(ds.train.labels.max()) < 10


def test_cifar_row_layout_by_hand(tmp_path):
    """A data row is 1024 red, 1024 green, 1024 blue values, each 32x32 row-major."""
    row = np.concatenate([np.full(1024, 1), np.full(1024, 2), np.full(1024, 3)]).astype(np.uint8)
    row[1] = 200          # red, pixel (0, 1)
    row[1024 + 32] = 201  # green, pixel (1, 0)
    top = tmp_path / "cifar10" / "cifar-10-batches-py"
    top.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (top / name).write_bytes(py2_pickle({b"data": row.reshape(1, -1), b"labels": [7]}))
    img = load_dataset("cifar10", tmp_path).test.images[0]
    assert img[0, 0, 1] == 200 and img[1, 1, 0] == 201
    assert img[0, 5, 5] == 1 and img[1, 5, 5] == 2 and img[2, 5, 5] == 3


def test_cifar10_archive_is_unpacked_once(tmp_path):
    src = tmp_path / "src"
    ref = write_cifar10(src)
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    make_targz(src, "cifar-10-batches-py", folder / "cifar-10-python.tar.gz")
    ds = load_dataset("cifar10", tmp_path / "data")
    assert np.array_equal(ds.train.images.numpy(), ref["train_x"])
    assert (folder / "cifar-10-batches-py" / "test_batch").is_file() and no_leftovers(folder)
    mtime = (folder / "cifar-10-batches-py").stat().st_mtime_ns
    load_dataset("cifar10", tmp_path / "data")
    assert (folder / "cifar-10-batches-py").stat().st_mtime_ns == mtime


def test_cifar100_fine_and_cifar20_coarse_labels(tmp_path):
    ref = write_cifar100(tmp_path / "cifar100")
    c100 = load_dataset("cifar100", tmp_path)
    c20 = load_dataset("cifar20", tmp_path)  # no cifar20/ folder: falls back to cifar100/
    assert c20.folder == tmp_path / "cifar100"
    assert np.array_equal(c100.train.labels.numpy(), ref["train_fine"])
    assert np.array_equal(c20.train.labels.numpy(), ref["train_coarse"])
    assert np.array_equal(c20.test.labels.numpy(), ref["test_coarse"])
    assert torch.equal(c100.train.images, c20.train.images)
    assert c20.spec.num_classes == 20 and c100.spec.num_classes == 100
    # a cifar20/ folder (here holding only the archive) takes precedence
    src = tmp_path / "src"
    ref2 = write_cifar100(src, n_train=4, n_test=2, seed=5)
    (tmp_path / "cifar20").mkdir()
    make_targz(src, "cifar-100-python", tmp_path / "cifar20" / "cifar-100-python.tar.gz")
    c20b = load_dataset("cifar20", tmp_path)
    assert c20b.folder == tmp_path / "cifar20" and len(c20b.train) == 4
    assert np.array_equal(c20b.train.labels.numpy(), ref2["train_coarse"])


# ------------------------------------------------------------------------ pickle safety
class _OpenFile:
    """Unpickling this calls builtins.open(marker, "w"): it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _System:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_control_really_runs_code(tmp_path):
    """The crafted pickle does run code under a plain pickle.load (so the next test means something)."""
    marker = tmp_path / "pwned"
    pickle.loads(py2_pickle({b"data": _OpenFile(marker)}), encoding="latin1")["data"].close()
    assert marker.exists()


@pytest.mark.parametrize("payload, name", [(_OpenFile, "open"), (_System, "system")])
def test_malicious_cifar_pickle_is_refused_and_nothing_runs(tmp_path, payload, name):
    marker = tmp_path / "pwned"
    ref = write_cifar10(tmp_path / "cifar10")
    bad = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(py2_pickle({b"data": payload(marker), b"labels": [0]}))
    with pytest.raises(DCLError, match="refusing to unpickle") as e:
        load_dataset("cifar10", tmp_path)
    assert str(bad) in str(e.value) and name in str(e.value)
    assert not marker.exists()
    assert len(ref["train_y"]) == 30


def test_restricted_unpickler_refuses_other_numpy_callables(tmp_path):
    """Only _reconstruct, ndarray and dtype: a protocol-5 numpy pickle (numpy._core.numeric._frombuffer)
    is refused too, though harmless, because the CIFAR files never contain it."""
    p = tmp_path / "p5"
    p.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=5))
    with pytest.raises(DCLError, match="refusing to unpickle numpy"):
        load_pickle(p)
    q = tmp_path / "p2"
    q.write_bytes(py2_pickle({b"data": np.arange(6, dtype=np.uint8)}))
    assert np.array_equal(load_pickle(q)[b"data"], np.arange(6))


# ------------------------------------------------------------------------- bad CIFAR files
def _cifar_case(tmp_path, case):
    write_cifar10(tmp_path / "cifar10")
    top = tmp_path / "cifar10" / "cifar-10-batches-py"
    target = top / "data_batch_2"
    if case == "truncated":
        raw = target.read_bytes()
        target.write_bytes(raw[: len(raw) // 2])
    elif case == "not a pickle":
        target.write_bytes(b"this is a text file, not a pickle\n" * 10)
    elif case == "wrong shape":
        target.write_bytes(py2_pickle({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}))
    elif case == "wrong dtype":
        target.write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}))
    elif case == "label out of range":
        target.write_bytes(cifar_batch(random_images(2), {"labels": [3, 10]}))
    elif case == "label count":
        target.write_bytes(cifar_batch(random_images(3), {"labels": [3, 1]}))
    elif case == "missing key":
        target.write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8)}))
    elif case == "not a dict":
        target.write_bytes(py2_pickle([1, 2, 3]))
    elif case == "missing split":
        target = top / "test_batch"
        target.unlink()
    return target


@pytest.mark.parametrize("case, match", [
    ("truncated", "truncated"),
    ("not a pickle", "not a valid CIFAR python batch"),
    ("wrong shape", r"shape \(N, 3072\)"),
    ("wrong dtype", "must be a uint8 array"),
    ("label out of range", r"labels must lie in \[0, 10\)"),
    ("label count", "3 images but 2 labels"),
    ("missing key", "needs the keys"),
    ("not a dict", "expected a pickled dict"),
    ("missing split", "missing CIFAR batch file"),
])
def test_bad_cifar_files_name_the_file(tmp_path, case, match):
    target = _cifar_case(tmp_path, case)
    with pytest.raises(DCLError, match=match) as e:
        load_dataset("cifar10", tmp_path)
    assert str(target) in str(e.value)


# ------------------------------------------------------------------------ unsafe archives
def _tar_with(path, members):
    """members: list of (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.mark.parametrize("case, match", [
    ("traversal", "unsafe member path"),
    ("absolute", "unsafe member path"),
    ("symlink", "links, devices"),
    ("wrong top", "outside cifar-10-batches-py"),
    ("truncated", "truncated or not a valid tar"),
    ("not an archive", "is not a tar archive"),
])
def test_unsafe_or_broken_archives_are_refused(tmp_path, case, match):
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    archive = folder / "cifar-10-python.tar.gz"
    ok = _file("cifar-10-batches-py/data_batch_1", b"a" * 100)
    if case == "traversal":
        _tar_with(archive, [ok, _file("cifar-10-batches-py/../../../evil.txt")])
    elif case == "absolute":
        _tar_with(archive, [ok, _file(str(tmp_path / "evil.txt"))])
    elif case == "symlink":
        link = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        _tar_with(archive, [ok, (link, None)])
    elif case == "wrong top":
        _tar_with(archive, [ok, _file("elsewhere/file")])
    elif case == "truncated":
        src = tmp_path / "src"
        write_cifar10(src, per_batch=40)
        make_targz(src, "cifar-10-batches-py", archive)
        archive.write_bytes(archive.read_bytes()[:20000])
    elif case == "not an archive":
        archive.write_bytes(b"<html>not found</html>")
    with pytest.raises(DCLError, match=match) as e:
        load_dataset("cifar10", tmp_path / "data")
    assert str(archive) in str(e.value)
    assert not (folder / "cifar-10-batches-py").exists()
    assert no_leftovers(folder)
    assert not list(tmp_path.rglob("evil.txt"))


# -------------------------------------------------------------------------------- SVHN
def test_svhn_train_plus_extra_and_label_10_is_zero(tmp_path):
    pytest.importorskip("scipy")
    ref = write_svhn(tmp_path / "svhn")
    ds = load_dataset("svhn", tmp_path)
    assert ds.train.images.shape == (12, 3, 32, 32) and ds.test.images.shape == (4, 3, 32, 32)
    assert ds.train.images.dtype == torch.uint8 and ds.train.labels.dtype == torch.int64
    assert np.array_equal(ds.train.images.numpy(), np.concatenate([ref["train_x"], ref["extra_x"]]))
    assert np.array_equal(ds.test.images.numpy(), ref["test_x"])
    expected = np.concatenate([ref["train_y"], ref["extra_y"]]) % 10
    assert np.array_equal(ds.train.labels.numpy(), expected) and ds.train.labels[0] == 0
    assert int(ds.train.labels.max()) <= 9
    noextra = load_dataset("svhn-noextra", tmp_path)
    assert len(noextra.train) == 7 and torch.equal(noextra.train.images, ds.train.images[:7])


def test_svhn_pixel_layout_by_hand(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    folder = tmp_path / "svhn"
    folder.mkdir()
    x = np.zeros((32, 32, 3, 2), np.uint8)  # (H, W, C, N)
    x[3, 5, 2, 1] = 77                      # sample 1, blue, row 3, column 5
    for split in ("train", "test"):
        scipy_io.savemat(folder / f"{split}_32x32.mat", {"X": x, "y": np.array([[10], [4]], np.uint8)})
    ds = load_dataset("svhn-noextra", tmp_path)
    assert ds.test.images[1, 2, 3, 5] == 77 and int(ds.test.images.sum()) == 77
    assert ds.test.labels.tolist() == [0, 4]


@pytest.mark.parametrize("case, match", [
    ("missing extra", "extra_32x32.mat.*svhn-noextra"),
    ("label 11", r"labels must be integers 1..10"),
    ("label 0", r"labels must be integers 1..10"),
    ("wrong shape", r"X has shape \(32, 32, 1, 3\)"),
    ("not a mat", "not a readable MATLAB"),
    ("truncated", "truncated"),
    ("no X", "needs the variables X and y"),
])
def test_bad_svhn_files_name_the_file(tmp_path, case, match):
    scipy_io = pytest.importorskip("scipy.io")
    folder = tmp_path / "svhn"
    write_svhn(folder)
    target = folder / "extra_32x32.mat"
    x3 = np.zeros((32, 32, 3, 3), np.uint8)
    if case == "missing extra":
        target.unlink()
    elif case in ("label 11", "label 0"):
        scipy_io.savemat(target, {"X": x3, "y": np.array([[1], [11 if case == "label 11" else 0], [2]])})
    elif case == "wrong shape":
        scipy_io.savemat(target, {"X": np.zeros((32, 32, 1, 3), np.uint8), "y": np.ones((3, 1))})
    elif case == "not a mat":
        target.write_bytes(b"\x00" * 300)
    elif case == "truncated":
        raw = target.read_bytes()
        target.write_bytes(raw[: len(raw) - 2000])
    elif case == "no X":
        scipy_io.savemat(target, {"images": x3, "y": np.ones((3, 1))})
    with pytest.raises(DCLError, match=match) as e:
        load_dataset("svhn", tmp_path)
    assert str(target) in str(e.value)


# ------------------------------------------------------------------------------ STL-10
def test_stl10_column_major_and_labels(tmp_path):
    ref = write_stl10(tmp_path / "stl10")
    ds = load_dataset("stl10", tmp_path)
    assert ds.train.images.shape == (5, 3, 96, 96) and ds.test.images.shape == (4, 3, 96, 96)
    assert np.array_equal(ds.train.images.numpy(), ref["train_x"])
    assert np.array_equal(ds.train.labels.numpy(), ref["train_y"].astype(np.int64) - 1)
    assert 0 <= int(ds.test.labels.min()) and int(ds.test.labels.max()) <= 9


def test_stl10_layout_by_hand(tmp_path):
    top = tmp_path / "stl10" / "stl10_binary"
    top.mkdir(parents=True)
    stored = np.zeros(3 * 96 * 96, np.uint8)
    stored[96 * 96 + 2 * 96 + 7] = 99  # green channel, stored column 2, position 7 -> row 7, column 2
    for split in ("train", "test"):
        (top / f"{split}_X.bin").write_bytes(stored.tobytes())
        (top / f"{split}_y.bin").write_bytes(bytes([10]))
    ds = load_dataset("stl10", tmp_path)
    assert ds.train.images[0, 1, 7, 2] == 99 and int(ds.train.images.sum()) == 99
    assert ds.train.labels.tolist() == [9]


def test_stl10_archive_skips_unlabeled(tmp_path):
    src = tmp_path / "src"
    ref = write_stl10(src)
    folder = tmp_path / "stl10"
    folder.mkdir()
    make_targz(src, "stl10_binary", folder / "stl10_binary.tar.gz")
    ds = load_dataset("stl10", tmp_path)
    assert np.array_equal(ds.test.images.numpy(), ref["test_x"])
    assert not (folder / "stl10_binary" / "unlabeled_X.bin").exists() and no_leftovers(folder)


@pytest.mark.parametrize("case, match, file", [
    ("truncated", "truncated or not an STL-10 image file", "test_X.bin"),
    ("labels short", "3 labels for 4 images", "test_y.bin"),
    ("label 0", r"labels must lie in 1..10", "test_y.bin"),
    ("missing", "missing STL-10 test split file", "test_y.bin"),
])
def test_bad_stl10_files_name_the_file(tmp_path, case, match, file):
    write_stl10(tmp_path / "stl10")
    target = tmp_path / "stl10" / "stl10_binary" / file
    if case == "truncated":
        target.write_bytes(target.read_bytes()[:-100])
    elif case == "labels short":
        target.write_bytes(bytes([1, 2, 3]))
    elif case == "label 0":
        target.write_bytes(bytes([1, 0, 3, 4]))
    elif case == "missing":
        target.unlink()
    with pytest.raises(DCLError, match=match) as e:
        load_dataset("stl10", tmp_path)
    assert str(target) in str(e.value)


# ----------------------------------------------------------------------------- K-MNIST
def test_kmnist_idx(tmp_path):
    write_idx_dataset(tmp_path / "kmnist", n_train=10, n_test=5)
    ds = load_dataset("kmnist", tmp_path)
    assert ds.train.images.shape == (10, 1, 28, 28) and ds.test.images.shape == (5, 1, 28, 28)
    assert ds.spec.mean == (0.1918,) and ds.spec.std == (0.3483,)
    assert ds.spec.crop_padding == 0 and not ds.spec.flip


# ---------------------------------------------------------------------------- val split
def test_val_split_is_a_seeded_disjoint_subset(tmp_path):
    write_cifar10(tmp_path / "cifar10")
    full = load_dataset("cifar10", tmp_path)
    a = load_dataset("cifar10", tmp_path, val_split=10, seed=1)
    b = load_dataset("cifar10", tmp_path, val_split=10, seed=1)
    c = load_dataset("cifar10", tmp_path, val_split=10, seed=2)
    assert len(a.train) == 20 and len(a.val) == 10 and len(a.test) == 8
    assert torch.equal(a.val.images, b.val.images) and not torch.equal(a.val.images, c.val.images)
    rows = lambda s: {bytes(x.numpy().tobytes()) for x in s.images}  # noqa: E731
    assert rows(a.train).isdisjoint(rows(a.val)) and rows(a.train) | rows(a.val) == rows(full.train)
    with pytest.raises(DCLError, match="val_split=30 must be smaller"):
        load_dataset("cifar10", tmp_path, val_split=30)


# ---------------------------------------------------------------------------------- CLI
def test_cli_data_info_on_generated_folder(tmp_path, capsys):
    pytest.importorskip("scipy")
    write_cifar10(tmp_path / "cifar10")
    write_cifar100(tmp_path / "cifar100")
    write_svhn(tmp_path / "svhn")
    write_stl10(tmp_path / "stl10")
    write_idx_dataset(tmp_path / "kmnist")
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    assert main(["data", "info", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    assert rows["cifar10"][2:4] == ["30", "8"] and rows["cifar100"][2:4] == ["12", "6"]
    assert rows["cifar20"][1] == str(tmp_path / "cifar100") and rows["cifar20"][2:4] == ["12", "6"]
    assert rows["svhn"][2:4] == ["12", "4"] and rows["svhn-noextra"][2:4] == ["7", "4"]
    assert rows["stl10"][2:4] == ["5", "4"] and rows["kmnist"][2:4] == ["10", "5"]
    assert rows["fashion-mnist"][1] == "missing"
    assert "MISMATCH" in " ".join(rows["cifar10"])  # generated files are not the genuine ones
    assert "error:" in " ".join(rows["mnist"])
    assert main(["data", "info", "cifar10", "--data-dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["datasets"][0]
    assert info["train"] == 30 and len(info["files"]) == 6 and {f["status"] for f in info["files"]} == {"MISMATCH"}
    assert main(["data", "info", "cifar11"]) == 2
    assert "unknown dataset 'cifar11'" in capsys.readouterr().err


def test_cli_data_info_real_mnist_checksums(real_data_dir, capsys):
    assert main(["data", "info", "mnist", "fashion-mnist", "--data-dir", str(real_data_dir)]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert line.split()[2:4] == ["60000", "10000"] and "4 ok" in line and "MISMATCH" not in line


def test_pixel_stats_reproduce_the_standard_figures(mnist, fashion_mnist):
    """The method behind the K-MNIST constants gives MNIST's and Fashion-MNIST's known values."""
    (m,), (s,) = pixel_stats(mnist.train.images)
    assert abs(m - 0.1307) < 1e-4 and abs(s - 0.3081) < 1e-4
    (m,), (s,) = pixel_stats(fashion_mnist.train.images)
    assert abs(m - 0.2860) < 1e-4 and abs(s - 0.3530) < 1e-4


def test_cli_train_conv_on_generated_cifar10(tmp_path, capsys):
    write_cifar10(tmp_path / "data" / "cifar10", per_batch=16, n_test=16)
    out = tmp_path / "run"
    rc = main(["train", "--data", "cifar10", "--arch", "conv", "--method", "dcl-s", "--epochs", "1",
               "--batch-size", "16", "--set", "eval_batch_size=16", "--val-split", "16",
               "--data-dir", str(tmp_path / "data"), "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert "conv on cifar10" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == "cifar10" and summary["preset"] == "conv-cifar10" and summary["epochs"] == 1
    assert 0.0 <= summary["test_error"] <= 100.0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "val_error" in metrics[0]


def test_datasets_are_listed(capsys):
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("cifar10", "cifar100", "cifar20", "svhn", "svhn-noextra", "stl10", "kmnist"):
        assert f"  {name} " in out and name in DATASETS


def test_unfinished_downloads_do_not_count_as_data(tmp_path):
    folder = tmp_path / "kmnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz.part").write_bytes(b"\x1f\x8b partial")
    (folder / ".cifar-10-batches-py.unpack-x").mkdir()
    with pytest.raises(DCLError, match="no kmnist data found"):
        load_dataset("kmnist", tmp_path)
