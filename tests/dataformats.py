"""Writers for small files in each dataset's real on-disk format (used by the data tests).

CIFAR batches are written the way Python 2 cPickle wrote them (protocol 2, every string a
py2 ``str``, numpy arrays through ``numpy.core.multiarray._reconstruct``), so the loader is
tested against the byte layout of the real distribution.
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes str/bytes as Python 2 ``str`` (BINSTRING) and names
    numpy's module ``numpy.core`` (as numpy 1.x did)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        module, name = obj.__module__, name or obj.__qualname__
        if module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core"):]
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def random_images(n, shape=(3, 32, 32), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def cifar_batch(images: np.ndarray, labels: dict[str, list[int]], tag="batch") -> bytes:
    """A CIFAR batch dict: data (N, 3072) channel-major rows, label lists, file names."""
    d = {b"batch_label": tag.encode(), b"data": images.reshape(len(images), -1)}
    d.update({k.encode(): list(map(int, v)) for k, v in labels.items()})
    d[b"filenames"] = [f"img_{i}.png".encode() for i in range(len(images))]
    return py2_pickle(d)


def write_cifar10(folder: Path, per_batch=6, n_test=8, seed=0) -> dict[str, np.ndarray]:
    """``folder/cifar-10-batches-py/`` with 5 train batches and a test batch."""
    top = folder / "cifar-10-batches-py"
    top.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_x, train_y = [], []
    for i in range(1, 6):
        x = random_images(per_batch, seed=seed * 100 + i)
        y = rng.integers(0, 10, per_batch)
        (top / f"data_batch_{i}").write_bytes(cifar_batch(x, {"labels": y}, f"training batch {i} of 5"))
        train_x.append(x)
        train_y.append(y)
    tx, ty = random_images(n_test, seed=seed * 100 + 9), rng.integers(0, 10, n_test)
    (top / "test_batch").write_bytes(cifar_batch(tx, {"labels": ty}, "testing batch 1 of 1"))
    return {"train_x": np.concatenate(train_x), "train_y": np.concatenate(train_y), "test_x": tx, "test_y": ty}


def write_cifar100(folder: Path, n_train=12, n_test=6, seed=0) -> dict[str, np.ndarray]:
    """``folder/cifar-100-python/{train,test}`` with fine and coarse labels."""
    top = folder / "cifar-100-python"
    top.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = random_images(n, seed=seed + len(split))
        fine = rng.integers(0, 100, n)
        coarse = fine % 20
        (top / split).write_bytes(cifar_batch(x, {"fine_labels": fine, "coarse_labels": coarse}, split))
        out.update({f"{split}_x": x, f"{split}_fine": fine, f"{split}_coarse": coarse})
    return out


def make_targz(src: Path, top: str, archive: Path) -> Path:
    """Pack ``src/top`` into ``archive`` (members ``top/...``)."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / top, arcname=top)
    return archive


def write_svhn(folder: Path, counts={"train": 7, "extra": 5, "test": 4}, seed=0) -> dict[str, np.ndarray]:
    """``folder/{train,extra,test}_32x32.mat``: X (32, 32, 3, N) uint8, y (N, 1) in 1..10."""
    import scipy.io
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in counts.items():
        x = random_images(n, seed=seed + n)                      # (N, C, H, W)
        y = rng.integers(1, 11, n)
        y[0] = 10                                                # digit 0 is stored as 10
        scipy.io.savemat(folder / f"{split}_32x32.mat",
                         {"X": x.transpose(2, 3, 1, 0), "y": y.reshape(-1, 1).astype(np.uint8)})
        out[f"{split}_x"], out[f"{split}_y"] = x, y
    return out


def write_stl10(folder: Path, n_train=5, n_test=4, seed=0) -> dict[str, np.ndarray]:
    """``folder/stl10_binary/{train,test}_{X,y}.bin``: column-major 3x96x96 images, labels 1..10."""
    top = folder / "stl10_binary"
    top.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = random_images(n, (3, 96, 96), seed=seed + n)
        y = rng.integers(1, 11, n).astype(np.uint8)
        (top / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
        (top / f"{split}_y.bin").write_bytes(y.tobytes())
        out[f"{split}_x"], out[f"{split}_y"] = x, y
    (top / "unlabeled_X.bin").write_bytes(random_images(2, (3, 96, 96)).tobytes())
    return out


def idx_bytes(arr: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_idx_dataset(folder: Path, n_train=10, n_test=5, seed=0) -> dict[str, bytes]:
    """The four gzipped IDX files of an MNIST-style dataset; returns {file name: bytes}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(random_images(n, (28, 28), seed + n)), mtime=0)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(rng.integers(0, 10, n)), mtime=0)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files
