"""Downloads and archives are bounded: a local HTTP server on 127.0.0.1 that floods, drips,
lies about the length or redirects to ftp:, and generated archives that declare huge members
or name one twice. Each case ends in one DCLError line within a few seconds, having written
at most the file's known size, with no final file and nothing half-unpacked left behind."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dcl.cli import main
from dcl.data.archive import extract_archive
from dcl.data.http_download import download_file
from dcl.errors import DCLError

SIZE = 100_000
BODY = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)
MD5 = hashlib.md5(BODY).hexdigest()


class Hostile(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class Handler(BaseHTTPRequestHandler):
    """``/flood``: no Content-Length, 50x the file, then close; ``/drip``: one byte every
    0.2 s; ``/liar``: announces 10 GB; ``/to-ftp``, ``/to-file``: redirects; ``/ok``: the file."""

    sent: dict[str, int] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path
        if path.startswith("/to-"):
            self.send_response(302)
            self.send_header("Location", {"/to-ftp": "ftp://127.0.0.1/blob", "/to-file": "file:///etc/passwd"}[path])
            self.end_headers()
            return
        self.send_response(200)
        if path.startswith("/flood"):  # also a mirror: /flood/<folder>/<file>
            self.end_headers()
            self.close_connection = True
            n = 0
            try:
                for _ in range(50):
                    self.wfile.write(BODY)
                    n += len(BODY)
            except OSError:  # the client hung up: that is the point
                pass
            Handler.sent[path] = n
            return
        if path == "/drip":
            self.send_header("Content-Length", str(SIZE))
            self.end_headers()
            try:
                for b in BODY[:50]:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            return
        if path == "/liar":
            self.send_header("Content-Length", str(10 ** 10))
            self.end_headers()
            try:
                self.wfile.write(BODY)
            except OSError:
                pass
            return
        self.send_header("Content-Length", str(SIZE))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture(scope="module")
def server():
    httpd = Hostile(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fetch(server, tmp_path, path, **kw):
    dest = tmp_path / "blob.bin"
    t0 = time.monotonic()
    with pytest.raises(DCLError) as e:
        download_file(server + path, dest, MD5, SIZE, **kw)
    return dest, str(e.value), time.monotonic() - t0


def test_the_server_works(server, tmp_path):
    dest = download_file(server + "/ok", tmp_path / "blob.bin", MD5, SIZE)
    assert dest.read_bytes() == BODY


def test_flood_without_length_is_cut_at_the_known_size(server, tmp_path):
    dest, msg, seconds = fetch(server, tmp_path, "/flood")
    assert "more than the 100,000 bytes" in msg and "\n" not in msg
    assert not dest.exists() and not Path(str(dest) + ".part").exists()  # wrong bytes: deleted
    assert seconds < 30


def test_flood_of_a_file_of_unknown_size_is_cut_at_max_bytes(server, tmp_path):
    dest = tmp_path / "blob.bin"
    with pytest.raises(DCLError, match="more than the 300,000 bytes"):
        download_file(server + "/flood", dest, MD5, None, max_bytes=300_000)
    assert not dest.exists() and not Path(str(dest) + ".part").exists()


def test_announced_length_beyond_the_known_size_is_refused_before_writing(server, tmp_path):
    dest, msg, _ = fetch(server, tmp_path, "/liar")
    assert "announces 10,000,000,000 bytes" in msg
    assert not dest.exists() and not Path(str(dest) + ".part").exists()


def test_drip_server_hits_the_overall_deadline(server, tmp_path):
    dest, msg, seconds = fetch(server, tmp_path, "/drip", deadline=1.5, timeout=1.0)
    assert "deadline of 1.5 s" in msg and "\n" not in msg
    assert seconds < 1.5 + 1.0 + 5  # the deadline, one read's timeout, and slack for a busy machine
    part = Path(str(dest) + ".part")
    assert not dest.exists()
    assert part.stat().st_size <= 50 and BODY.startswith(part.read_bytes())  # only what was sent: resumable


@pytest.mark.parametrize("path, target", [("/to-ftp", "ftp://127.0.0.1/blob"), ("/to-file", "file:///etc/passwd")])
def test_redirects_leave_http(server, tmp_path, path, target):
    dest, msg, _ = fetch(server, tmp_path, path)
    assert f"redirected to {target!r}" in msg and "only http and https" in msg
    assert not dest.exists() and not Path(str(dest) + ".part").exists()


def test_cli_fetch_through_a_flooding_mirror_is_one_line(server, tmp_path, monkeypatch, capsys):
    from dcl.data import download as dl
    monkeypatch.setitem(dl.CHECKSUMS, "kmnist", tuple(
        dl.KnownFile(f.path, MD5, SIZE, None) for f in dl.CHECKSUMS["kmnist"]))
    mirror = server + "/flood"  # every MIRROR/<folder>/<file> floods
    code = main(["data", "fetch", "kmnist", "--data-dir", str(tmp_path), "--mirror", mirror, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "more than the 100,000 bytes" in err
    assert not [p for p in (tmp_path / "kmnist").iterdir()]


# ---------------------------------------------------------------------------- archives
def tar_gz(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_member_declaring_3_gib_is_refused_from_its_header(tmp_path):
    info = tarfile.TarInfo("top/huge.bin")
    info.size = 3 << 30
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 4096, mtime=0))
    assert archive.stat().st_size < 2000
    t0 = time.monotonic()
    with pytest.raises(DCLError, match=r"3,221,225,472 bytes.*more than the 1,073,741,824"):
        extract_archive(archive, tmp_path, "top")
    assert time.monotonic() - t0 < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.tar.gz"]  # nothing unpacked, no temp folder


def test_real_compression_bomb_stops_at_the_cap_before_writing(tmp_path):
    """A 4 MB member of zeros (a few kB compressed) against a 1 MB cap."""
    archive = tar_gz(tmp_path / "zeros.tar.gz", [("top/a.bin", b"a" * 1000), ("top/zeros.bin", bytes(4 << 20))])
    assert archive.stat().st_size < 20_000
    with pytest.raises(DCLError, match="more than the 1,048,576"):
        extract_archive(archive, tmp_path, "top", max_bytes=1 << 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zeros.tar.gz"]


def test_many_members_are_refused(tmp_path, monkeypatch):
    from dcl.data import archive as arc
    monkeypatch.setattr(arc, "MAX_MEMBERS", 5)
    archive = tar_gz(tmp_path / "many.tar.gz", [(f"top/f{i}", b"x") for i in range(8)])
    with pytest.raises(DCLError, match="more than 5 entries"):
        extract_archive(archive, tmp_path, "top")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.tar.gz"]


def test_duplicate_member_is_named_not_called_truncated(tmp_path):
    archive = tar_gz(tmp_path / "dup.tar.gz", [("top/a.bin", b"first"), ("top/b.bin", b"b"), ("top/a.bin", b"second")])
    with pytest.raises(DCLError) as e:
        extract_archive(archive, tmp_path, "top")
    assert "'top/a.bin' appears twice" in str(e.value) and "truncated" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.tar.gz"]


def test_a_good_archive_still_unpacks(tmp_path):
    archive = tar_gz(tmp_path / "good.tar.gz", [("top/a.bin", b"a" * 1000), ("top/sub/b.bin", b"b")])
    top = extract_archive(archive, tmp_path, "top", max_bytes=1001)
    assert (top / "a.bin").read_bytes() == b"a" * 1000 and (top / "sub" / "b.bin").read_bytes() == b"b"
