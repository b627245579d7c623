"""Local servers on 127.0.0.1 that misbehave, for the download cases of test_bad_inputs.py.

``/drip/...`` announces a 1 MB body and sends one byte every ``DRIP_SECONDS`` (at most
``DRIP_BYTES`` of them, so a handler never outlives a test run by much); ``/loop/...``
redirects to itself; anything else is 404. The second server accepts TCP connections and
answers with an SSH banner instead of HTTP. Both run in daemon threads and are shut down by
the context manager.
"""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DRIP_SECONDS = 2.0
DRIP_BYTES = 15


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not self.path.startswith("/drip"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(DRIP_BYTES):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(DRIP_SECONDS)
        except OSError:  # the client hung up: that is the point
            pass


def _banner_server(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        with conn:
            try:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n")
            except OSError:
                pass


@contextmanager
def misbehaving_servers():
    """Yield ``(http_base, not_http_base)``: two ``http://127.0.0.1:PORT`` URLs."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    raw = socket.socket()
    raw.bind(("127.0.0.1", 0))
    raw.listen(8)
    stop = threading.Event()
    threading.Thread(target=_banner_server, args=(raw, stop), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", f"http://127.0.0.1:{raw.getsockname()[1]}"
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
        raw.close()
