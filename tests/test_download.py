"""Checksummed, resumable downloads against a real HTTP server on 127.0.0.1 (never the internet)."""
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dataformats import make_targz, write_cifar10, write_cifar100, write_idx_dataset
from dcl.cli import main
from dcl.data import fetch_dataset, load_dataset
from dcl.data import download as dl
from dcl.data.download import KnownFile, download_file
from dcl.errors import DCLError


class Server:
    """Serves files from ``root``; honours ``Range: bytes=N-`` unless told not to; can cut the
    next response short once; records (path, Range header, status, bytes sent) before sending,
    so the record is there when the client returns."""

    def __init__(self, root: Path):
        self.root = root
        self.honour_range = True
        self.cut_next_after: int | None = None
        self.log: list[tuple[str, str | None, int, int]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = server.root / self.path.lstrip("/")
                rng = self.headers.get("Range")
                if not path.is_file():
                    server.log.append((self.path, rng, 404, 0))
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start, status = 0, 200
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        server.log.append((self.path, rng, 416, 0))
                        self.send_error(416)
                        return
                    status = 206
                body = data[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if server.cut_next_after is not None:
                    body, server.cut_next_after = body[:server.cut_next_after], None
                    self.close_connection = True
                server.log.append((self.path, rng, status, len(body)))  # before the client can finish
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    s = Server(root)
    yield s
    s.close()


@pytest.fixture
def payload(server):
    data = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    (server.root / "blob.bin").write_bytes(data)
    return data


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def test_good_download(tmp_path, server, payload):
    dest = tmp_path / "cache" / "blob.bin"
    download_file(f"{server.url}/blob.bin", dest, md5(payload), len(payload))
    assert dest.read_bytes() == payload and not Path(str(dest) + ".part").exists()
    assert server.log == [("/blob.bin", None, 200, len(payload))]


def test_resumed_download_asks_only_for_the_rest(tmp_path, server, payload):
    dest = tmp_path / "blob.bin"
    Path(str(dest) + ".part").write_bytes(payload[:100_000])
    download_file(f"{server.url}/blob.bin", dest, md5(payload), len(payload))
    assert dest.read_bytes() == payload
    assert server.log == [("/blob.bin", "bytes=100000-", 206, 200_000)]


def test_server_ignoring_range_restarts_cleanly(tmp_path, server, payload):
    server.honour_range = False
    dest = tmp_path / "blob.bin"
    Path(str(dest) + ".part").write_bytes(payload[:100_000])
    download_file(f"{server.url}/blob.bin", dest, md5(payload), len(payload))
    assert dest.read_bytes() == payload  # not the first 100 kB twice
    assert server.log == [("/blob.bin", "bytes=100000-", 200, len(payload))]


def test_dropped_connection_keeps_part_and_resumes(tmp_path, server, payload):
    dest = tmp_path / "blob.bin"
    part = Path(str(dest) + ".part")
    server.cut_next_after = 120_000
    with pytest.raises(DCLError, match="run the command again to resume"):
        download_file(f"{server.url}/blob.bin", dest, md5(payload), len(payload))
    assert part.read_bytes() == payload[:120_000] and not dest.exists()
    download_file(f"{server.url}/blob.bin", dest, md5(payload), len(payload))
    assert dest.read_bytes() == payload and not part.exists()
    assert server.log[-1] == ("/blob.bin", "bytes=120000-", 206, 180_000)


def test_unknown_size_complete_part_is_verified_after_416(tmp_path, server, payload):
    dest = tmp_path / "blob.bin"
    Path(str(dest) + ".part").write_bytes(payload)
    download_file(f"{server.url}/blob.bin", dest, md5(payload), None)
    assert dest.read_bytes() == payload and server.log[-1][2] == 416


def test_checksum_failure_deletes_the_partial_download(tmp_path, server, payload):
    dest = tmp_path / "blob.bin"
    with pytest.raises(DCLError, match=r"blob.bin: checksum mismatch.*deleted the partial download"):
        download_file(f"{server.url}/blob.bin", dest, "0" * 32, len(payload))
    assert not dest.exists() and not Path(str(dest) + ".part").exists()
    with pytest.raises(DCLError, match="HTTP 404"):
        download_file(f"{server.url}/nope.bin", dest, "0" * 32)


# -------------------------------------------------------------------- fetch_dataset / CLI
def _serve_idx(server, monkeypatch, name="kmnist", corrupt=False):
    """Put a small IDX dataset on the mirror (``/<name>/<file>``) and its checksums in the table."""
    files = write_idx_dataset(server.root / name, n_train=8, n_test=4)
    table = tuple(KnownFile(f, md5(b), len(b), f"http://0.0.0.0/never/{f}") for f, b in files.items())
    monkeypatch.setitem(dl.CHECKSUMS, name, table)
    if corrupt:
        (server.root / name / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b tampered")
    return files


def test_fetch_dataset_from_mirror_then_load(tmp_path, server, monkeypatch):
    files = _serve_idx(server, monkeypatch)
    data = tmp_path / "data"
    folder = fetch_dataset("kmnist", data, mirror=server.url)
    assert folder == data / "kmnist"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
    assert sorted(entry[0] for entry in server.log) == sorted(f"/kmnist/{f}" for f in files)
    ds = load_dataset("kmnist", data)
    assert len(ds.train) == 8 and len(ds.test) == 4
    n = len(server.log)
    assert fetch_dataset("kmnist", data, mirror=server.url) == folder  # present: no request
    assert len(server.log) == n


def test_fetch_downloads_only_missing_files(tmp_path, server, monkeypatch):
    files = _serve_idx(server, monkeypatch)
    folder = tmp_path / "data" / "kmnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(files["train-images-idx3-ubyte.gz"])
    fetch_dataset("kmnist", tmp_path / "data", mirror=server.url)
    assert "/kmnist/train-images-idx3-ubyte.gz" not in [e[0] for e in server.log] and len(server.log) == 3


def test_fetch_with_bad_checksum_leaves_nothing(tmp_path, server, monkeypatch):
    _serve_idx(server, monkeypatch, corrupt=True)
    data = tmp_path / "data"
    with pytest.raises(DCLError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        fetch_dataset("kmnist", data, mirror=server.url)
    names = {p.name for p in (data / "kmnist").iterdir()}
    assert "t10k-labels-idx1-ubyte.gz" not in names and not [n for n in names if n.endswith(".part")]


def test_fetch_archive_dataset_then_unpack_on_load(tmp_path, server, monkeypatch):
    src = tmp_path / "src"
    ref = write_cifar10(src)
    (server.root / "cifar10").mkdir()
    archive = make_targz(src, "cifar-10-batches-py", server.root / "cifar10" / "cifar-10-python.tar.gz")
    raw = archive.read_bytes()
    monkeypatch.setitem(dl.CHECKSUMS, "cifar10", (
        KnownFile("cifar-10-python.tar.gz", md5(raw), len(raw), "http://0.0.0.0/x", unpacks_to="cifar-10-batches-py"),))
    monkeypatch.setenv("DCL_DATA_MIRROR", server.url)
    folder = fetch_dataset("cifar10", tmp_path / "data")
    assert (folder / "cifar-10-python.tar.gz").read_bytes() == raw
    ds = load_dataset("cifar10", tmp_path / "data")
    assert np.array_equal(ds.test.images.numpy(), ref["test_x"])


def test_fetch_cifar20_is_satisfied_by_cifar100_folder(tmp_path, server):
    write_cifar100(tmp_path / "cifar100")
    assert fetch_dataset("cifar20", tmp_path, mirror=server.url) == tmp_path / "cifar100"
    assert server.log == []


def test_fetch_real_mnist_is_a_no_op(real_data_dir, server):
    assert fetch_dataset("mnist", real_data_dir, mirror=server.url) == real_data_dir / "mnist"
    assert server.log == []


def test_cli_data_fetch(tmp_path, server, monkeypatch, capsys):
    _serve_idx(server, monkeypatch)
    monkeypatch.setenv("DCL_DATA_MIRROR", server.url)
    args = ["data", "fetch", "kmnist", "--data-dir", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"downloading {server.url}/kmnist/train-images-idx3-ubyte.gz" in out and "kmnist: ready in" in out
    assert main(args) == 0
    assert "already present" in capsys.readouterr().out
    assert main(["data", "fetch", "imagenet"]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_checksum_table_is_complete():
    """Every downloadable dataset has its files (URL, MD5) in the one table."""
    for name, (key, files) in dl.DOWNLOADS.items():
        for f in files:
            k = dl.known_file(key, f)
            assert len(k.md5) == 32 and k.url and k.url.endswith("/" + f), (name, f)
    # MNIST / Fashion-MNIST: content MD5s as computed from ../shared/data
    assert dl.known_file("mnist", "train-images-idx3-ubyte.gz").content_md5 == "6bbc9ace898e44ae57da46a324031adb"
    assert dl.resolve_url("svhn", dl.known_file("svhn", "extra_32x32.mat"), "http://m/") == "http://m/svhn/extra_32x32.mat"
