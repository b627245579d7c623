"""Builders of bad files for tests/test_bad_inputs.py: each writes one broken thing into a
fresh folder and returns the path to pass to ``dcl`` and the path (or value) the error must
name. Kept apart from the table so the table reads as a table."""
from __future__ import annotations

import gzip
import io
import shutil
import struct
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

import dcl

from dataformats import cifar_batch, idx_bytes, make_targz, py2_pickle, random_images, write_cifar10
from tiny import MNIST

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def copy_mnist(tiny: Path, dest: Path) -> Path:
    """A copy of the tiny data folder's mnist/ in ``dest/mnist``; returns ``dest``."""
    shutil.copytree(tiny / "mnist", dest / "mnist")
    return dest


def idx_case(tiny: Path, dest: Path, kind: str) -> tuple[Path, Path]:
    """(data dir, the file the error must name) for one broken IDX file."""
    root = copy_mnist(tiny, dest)
    images, labels = root / "mnist" / IDX_NAMES[0], root / "mnist" / IDX_NAMES[1]
    if kind == "gzip-body":
        raw = bytearray(images.read_bytes())
        for i in range(len(raw) // 2, len(raw) // 2 + 64):
            raw[i] ^= 0xA5
        images.write_bytes(bytes(raw))
        return root, images
    if kind == "dims-overflow":
        header = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1)
        images.write_bytes(gzip.compress(header, mtime=0))
        return root, images
    if kind == "zero-images":
        images.write_bytes(gzip.compress(idx_bytes(np.zeros((0, 28, 28), np.uint8)), mtime=0))
        labels.write_bytes(gzip.compress(idx_bytes(np.zeros((0,), np.uint8)), mtime=0))
        return root, images
    if kind == "label-range":
        n = len(gzip.decompress(labels.read_bytes())) - 8
        bad = np.zeros(n, np.uint8)
        bad[3] = 12
        labels.write_bytes(gzip.compress(idx_bytes(bad), mtime=0))
        return root, labels
    if kind == "label-count":
        labels.write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8)), mtime=0))
        return root, labels
    if kind == "magic":
        images.write_bytes(gzip.compress(b"PK\x03\x04 a zip, not idx", mtime=0))
        return root, images
    if kind == "truncated":
        raw = gzip.decompress(images.read_bytes())
        images.write_bytes(gzip.compress(raw[: len(raw) // 2], mtime=0))
        return root, images
    raise ValueError(kind)


class _Bomb:
    """Pickles as ``_reconstruct(ndarray, (200000,), dtype('(3072,)u1'))``: 586 MiB when loaded."""

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        return _reconstruct, (np.ndarray, (200_000,), np.dtype(("u1", (3072,))))


class _Evil:
    def __reduce__(self):
        import os
        return os.system, ("echo pwned",)


def _tar_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def cifar_case(dest: Path, kind: str) -> tuple[Path, Path]:
    """(data dir, the file the error must name) for one broken CIFAR-10 file or archive."""
    folder = dest / "cifar10"
    write_cifar10(folder, per_batch=4, n_test=4)
    batch = folder / "cifar-10-batches-py" / "data_batch_1"
    if kind == "pickle-bomb":
        batch.write_bytes(py2_pickle({b"data": _Bomb(), b"labels": [0]}))
        return dest, batch
    if kind == "pickle-global":
        batch.write_bytes(py2_pickle({b"data": _Evil(), b"labels": [0]}))
        return dest, batch
    if kind == "pickle-too-many":
        batch.write_bytes(cifar_batch(random_images(3), {"labels": [0, 1, 2]}))
        return dest, batch  # used with a patched limit: see the table
    archive = folder / "cifar-10-python.tar.gz"
    if kind == "duplicate-member":
        make_targz(folder, "cifar-10-batches-py", archive)
        with tarfile.open(archive, "r:gz") as tar:
            members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
        first_file = next(m for m, d in members if d is not None)
        with tarfile.open(archive, "w:gz") as tar:
            for m, data in members + [(first_file, dict((x.name, d) for x, d in members)[first_file.name])]:
                tar.addfile(m, io.BytesIO(data) if data is not None else None)
        shutil.rmtree(folder / "cifar-10-batches-py")
        return dest, archive
    if kind == "not-tar":  # an HTML error page saved under the archive's name
        archive.write_bytes(b"<html><body>403 Forbidden</body></html>\n" * 4)
        shutil.rmtree(folder / "cifar-10-batches-py")
        return dest, archive
    if kind == "archive-bomb":
        # a header declaring a 3 GiB member, followed by a few bytes: refused from the header
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = 3 << 30
        raw = info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024
        archive.write_bytes(gzip.compress(raw, mtime=0))
        shutil.rmtree(folder / "cifar-10-batches-py")
        return dest, archive
    raise ValueError(kind)


def stl10_oversized(dest: Path) -> tuple[Path, Path]:
    """An STL-10 folder whose train_X.bin (sparse, no disk used) is one image too long."""
    top = dest / "stl10" / "stl10_binary"
    top.mkdir(parents=True)
    x = top / "train_X.bin"
    with open(x, "wb") as f:
        f.truncate(5001 * 3 * 96 * 96)
    for name, size in (("train_y.bin", 5001), ("test_X.bin", 3 * 96 * 96), ("test_y.bin", 1)):
        (top / name).write_bytes(b"\x01" * size)
    return dest, x


def checkpoint_variants(run: Path, dest: Path) -> dict[str, Path]:
    """Checkpoints derived from a good run's: each disagrees with its config, or is damaged."""
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    out = {}

    def save(name: str, st) -> None:
        folder = dest / name
        folder.mkdir(parents=True)
        torch.save(st, folder / "checkpoint.pt")
        out[name] = folder / "checkpoint.pt"

    save("width", {**state, "config": {**state["config"], "width": 64}})
    save("arch", {**state, "config": {**state["config"], "arch": "conv"}})
    save("method", {**state, "config": {**state["config"], "method": "bp"}})
    save("noconfig", {k: v for k, v in state.items() if k != "config"})
    save("newer", {**state, "format": 7})
    save("badconfig", {**state, "config": {**state["config"], "lr": float("inf")}})
    save("norng", {k: v for k, v in state.items() if k != "rng"})
    save("optimizer", {**state, "method": {**state["method"], "optimizers": state["method"]["optimizers"][:1]}})
    save("evil", {**state, "extra": _Evil()})
    garbage = dest / "garbage" / "checkpoint.pt"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a checkpoint at all\n" * 10)
    out["garbage"] = garbage
    truncated = dest / "truncated" / "checkpoint.pt"
    truncated.parent.mkdir()
    truncated.write_bytes((run / "checkpoint.pt").read_bytes()[:5000])
    out["truncated"] = truncated
    return out


def make_tiny_run(root: Path) -> tuple[Path, Path]:
    """(tiny MNIST data dir, a finished 1-epoch FC run on it): 64 + 32 generated images."""
    from dataformats import write_idx_dataset

    tiny = root / "tiny"
    write_idx_dataset(tiny / "mnist", n_train=64, n_test=32)
    run = root / "run"
    cfg = dcl.resolve_config(arch="fc", data="mnist", epochs=1, batch_size=16, limit_train_batches=2, width=32)
    dcl.train(cfg, run, data_dir=tiny)
    return tiny, run


# --- helpers of the Python API cases
def features(b=4, c=8, dtype=torch.float32):
    return torch.randn(b, c, dtype=dtype)


def bp_method():
    from dcl.methods import build_method
    from dcl.models import build_model
    cfg = dcl.TrainConfig(arch="fc", method="bp", width=32, segments=4, batch_size=4)
    return build_method(build_model(cfg, MNIST), cfg)


def dcl_method():
    from dcl.methods import build_method
    from dcl.models import build_model
    cfg = dcl.TrainConfig(arch="fc", method="dcl", width=32, segments=4, batch_size=4)
    return build_method(build_model(cfg, MNIST), cfg)


def seq():
    from torch import nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))


def local_net(**kw):
    from dcl.models import make_local
    return make_local(seq(), **{"split_after": [2], "in_shape": (1, 28, 28), **kw})


_SCRATCH = tempfile.TemporaryDirectory(prefix="dcl-bad-")  # removed when the test process exits


def tmpdir() -> Path:
    return Path(tempfile.mkdtemp(dir=_SCRATCH.name))


def idx_overflow():
    import gzip
    import struct
    from dcl.data.idx import read_idx
    p = tmpdir() / "x-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(struct.pack(">BBBB", 0, 0, 8, 2) + struct.pack(">2I", 2 ** 32 - 1, 2 ** 32 - 1)))
    return read_idx(p)


def duplicate_archive():
    from dcl.data.archive import extract_archive
    _, archive = cifar_case(tmpdir(), "duplicate-member")
    return extract_archive(archive, archive.parent, "cifar-10-batches-py")


def garbage() -> Path:
    p = tmpdir() / "garbage.pt"
    p.write_bytes(b"\x00" * 100)
    return p
