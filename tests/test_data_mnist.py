"""MNIST-style IDX data: real files, format errors, data-folder precedence, batch loader."""
import gzip
import struct

import numpy as np
import pytest
import torch

from dcl.data import BatchLoader, data_root, default_data_dir, load_dataset
from dcl.data.idx import read_idx
from dcl.errors import DCLError


def test_real_mnist_and_fashion_mnist(mnist, fashion_mnist):
    for ds in (mnist, fashion_mnist):
        assert ds.train.images.shape == (60000, 1, 28, 28) and ds.train.images.dtype == torch.uint8
        assert ds.test.images.shape == (10000, 1, 28, 28)
        assert ds.train.labels.dtype == torch.int64
        assert set(ds.train.labels.unique().tolist()) == set(range(10))


def write_idx(path, arr, gz=True):
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_read_idx_raw_and_gz(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", arr)
    write_idx(tmp_path / "a", arr, gz=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)
    assert np.array_equal(read_idx(tmp_path / "a"), arr)


@pytest.mark.parametrize("content, match", [
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated"),
    (b"PK\x03\x04 not idx at all", "not an IDX file"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd", "type code"),
])
def test_bad_idx_files_name_the_file(tmp_path, content, match):
    p = tmp_path / "bad-idx"
    p.write_bytes(content)
    with pytest.raises(DCLError, match=match) as e:
        read_idx(p)
    assert str(p) in str(e.value)


def test_label_out_of_range_and_missing_split(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3]))
    with pytest.raises(DCLError, match="missing test split"):
        load_dataset("mnist", tmp_path)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, 1]))
    assert len(load_dataset("mnist", tmp_path).train) == 4
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 12]))
    with pytest.raises(DCLError, match=r"labels must lie in \[0, 10\)"):
        load_dataset("mnist", tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2]))
    with pytest.raises(DCLError, match="4 images but 3 labels"):
        load_dataset("mnist", tmp_path)


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("DCL_DATA_DIR", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("DCL_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == default_data_dir() == tmp_path / "cache" / "dcl" / "data"


def test_loader_normalises_and_is_reproducible(fashion_mnist):
    from conftest import small_dataset
    ds = small_dataset(fashion_mnist, 300, 100)
    test = BatchLoader(ds.test, ds.spec, 64, train=False)
    x, y = next(iter(test))
    expected = (ds.test.images[:64].float() / 255 - 0.286) / 0.353
    assert torch.allclose(x, expected, atol=1e-5) and torch.equal(y, ds.test.labels[:64])
    assert len(test) == 2 and sum(b[1].shape[0] for b in test) == 100
    train = BatchLoader(ds.train, ds.spec, 64, train=True, seed=3)
    a = [b[0] for b in train]
    b = [b[0] for b in train]
    assert all(torch.equal(u, v) for u, v in zip(a, b))  # same epoch -> same batches
    train.set_epoch(1)
    assert not torch.equal(a[0], next(iter(train))[0])
    assert len(BatchLoader(ds.train, ds.spec, 299, train=True)) == 1  # a final batch of 1 is dropped
    assert len(BatchLoader(ds.train, ds.spec, 299, train=False)) == 2  # but not at evaluation
