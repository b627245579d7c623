"""One checksummed, resumable and bounded HTTP(S) download (:func:`download_file`).

What a download may do, whatever the server does:

* **schemes**: only ``http://`` and ``https://`` URLs are fetched, and only redirects to
  those are followed (``ftp:``, ``file:``, ``data:`` ... are refused); a malformed URL (a bad
  mirror) is a one-line DCLError;
* **size**: at most the file's known size is written (else ``max_bytes``), whatever the
  server announces or sends without a ``Content-Length``; a server that sends more is refused
  and its bytes are deleted;
* **time**: each read waits at most ``timeout`` seconds, and the whole transfer must end by
  its deadline: ``deadline`` seconds when given (``--deadline``, else ``$DCL_DOWNLOAD_DEADLINE``),
  else 2 minutes plus the time the bytes received so far take at 50 KiB/s, so that a server
  that drips a byte now and then is cut off after about 2 minutes while a download that keeps
  moving is never cut;
* **files**: bytes go to ``NAME.part``; only a file whose size and MD5 match is renamed to
  ``NAME``. Wrong bytes (checksum mismatch, too many bytes) are deleted; a transfer that
  stopped early (dropped connection, deadline, full disk) keeps its ``.part``, which the next
  call resumes with an HTTP ``Range`` request (``.part`` files never count as data).
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import DCLError, one_line

_CHUNK = 1 << 20
ALLOWED_SCHEMES = ("http", "https")
#: the most bytes written for a file of unknown size
MAX_BYTES = 4 << 30
#: the default deadline: this long plus the time the bytes received take at :data:`MIN_RATE` bytes/s
BASE_DEADLINE = 120.0
MIN_RATE = 50 * 1024
#: the variable that sets a fixed deadline (seconds) for every download
DEADLINE_ENV = "DCL_DOWNLOAD_DEADLINE"


def md5_file(path: str | os.PathLike, gunzip: bool = False) -> str:
    """MD5 of a file's bytes (``gunzip=True``: of its decompressed content)."""
    h = hashlib.md5()
    with (gzip.open if gunzip else open)(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_url(url: str, what: str = "URL") -> str:
    """``url`` if it is a well-formed http(s) URL with a host, else a one-line DCLError."""
    try:
        parts = urllib.parse.urlsplit(str(url))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise DCLError(f"bad {what} {url!r}: {e}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise DCLError(f"bad {what} {url!r}: expected http://HOST/... or https://HOST/...")
    return str(url)


class HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http and https URLs."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_redirect(req.full_url, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get("location") or headers.get("uri")
        if target:
            _check_redirect(req.full_url, urllib.parse.urljoin(req.full_url, target))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _check_redirect(url: str, newurl: str) -> None:
    if urllib.parse.urlsplit(newurl).scheme.lower() not in ALLOWED_SCHEMES:
        raise DCLError(f"download of {url} was redirected to {newurl!r}; only http and https redirects are followed")


def _opener() -> urllib.request.OpenerDirector:
    """An opener with HTTP(S) handlers only (no ftp:, file: or data: handlers at all)."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(), HttpOnlyRedirects(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def default_deadline(received: int = 0) -> float:
    """Seconds a download may have taken once ``received`` bytes have arrived: 2 minutes plus
    those bytes at 50 KiB/s (a transfer slower than that on average is cut)."""
    return BASE_DEADLINE + received / MIN_RATE


def deadline_seconds(deadline: float | str | None = None) -> float | None:
    """A fixed deadline: ``deadline``, else ``$DCL_DOWNLOAD_DEADLINE``, else None (the
    default rule, :func:`default_deadline`); not a positive finite number: one-line DCLError."""
    source = "deadline"
    if deadline is None:
        deadline, source = os.environ.get(DEADLINE_ENV) or None, DEADLINE_ENV
        if deadline is None:
            return None
    try:
        value = float(deadline)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < float("inf"):
        raise DCLError(f"{source} must be a positive number of seconds, got {deadline!r}")
    return value


class _Clock:
    """When a transfer must end: a fixed deadline, or the default rule on the bytes so far."""

    def __init__(self, deadline: float | None, started: float | None = None):
        self.start, self.fixed = time.monotonic() if started is None else started, deadline

    def allowed(self, received: int) -> float:
        return self.fixed if self.fixed is not None else default_deadline(received)

    def left(self, received: int) -> float:
        return self.start + self.allowed(received) - time.monotonic()

    def describe(self, received: int) -> str:
        if self.fixed is not None:
            return f"its deadline of {self.fixed:g} s"
        return (f"its deadline of {self.allowed(received):.0f} s (2 minutes plus its bytes at 50 KiB/s; "
                f"--deadline or ${DEADLINE_ENV} sets another)")


def _read(r, clock: _Clock, received: int, timeout: float) -> bytes:
    """The next chunk of ``r``, waiting at most ``timeout`` and no later than the deadline."""
    sock = getattr(getattr(getattr(r, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(max(min(timeout, clock.left(received)), 0.01))
    return getattr(r, "read1", r.read)(_CHUNK)


def download_file(url: str, dest: str | os.PathLike, md5: str, size: int | None = None, *,
                  progress: bool = False, timeout: float = 60.0, deadline: float | None = None,
                  max_bytes: int = MAX_BYTES, started: float | None = None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming it if it exists.

    Once the server's response is complete, the file must have ``size`` bytes (if given)
    and MD5 ``md5``; otherwise the ``.part`` file is deleted and DCLError names the file.
    At most ``size`` (else ``max_bytes``) bytes are written; ``deadline`` (seconds; default
    ``$DCL_DOWNLOAD_DEADLINE``, else :func:`default_deadline` of the bytes received) bounds the
    whole transfer and ``timeout`` each read; ``started`` (a ``time.monotonic()`` value,
    default now) is when the deadline began, for several files under one deadline. A dropped
    connection, the deadline or a full disk keeps the ``.part`` file so that a second call
    resumes it.
    """
    from tqdm.auto import tqdm

    check_url(url)
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    limit = size if size is not None else max_bytes
    clock = _Clock(deadline_seconds(deadline), started)
    received = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > limit:
        part.unlink()
        have = 0
    if size is None or have < size:
        headers = {"User-Agent": "dcl-data/1"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            request = urllib.request.Request(url, headers=headers)
            with _opener().open(request, timeout=max(min(timeout, clock.left(0)), 0.01)) as r:
                resumed = have > 0 and r.status == 206 and \
                    r.headers.get("Content-Range", "").startswith(f"bytes {have}-")
                if not resumed:
                    have = 0  # the server sent the whole file: start over
                length = r.headers.get("Content-Length")
                promised = int(length) if length and length.isdigit() else None
                if promised is not None and have + promised > limit:
                    _drop(part)
                    raise DCLError(f"download of {url}: the server announces {have + promised:,} bytes, more than "
                                   f"the {limit:,} of {dest.name}; refused (deleted {part.name})")
                total = size if size is not None else (have + promised if promised is not None else None)
                with open(part, "ab" if resumed else "wb") as out, \
                        tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=dest.name, disable=not progress, leave=False) as bar:
                    while chunk := _read(r, clock, received, timeout):
                        if have + received + len(chunk) > limit:
                            out.close()
                            _drop(part)
                            raise DCLError(f"download of {url}: the server sent more than the {limit:,} bytes of "
                                           f"{dest.name}; refused (deleted {part.name})")
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if clock.left(received) < 0:
                            raise DCLError(f"download of {url} did not finish within {clock.describe(received)} "
                                           f"({have + received:,} bytes so far); run the command again to "
                                           f"resume from {part}")
                if promised is not None and received < promised:  # connection dropped: keep .part
                    raise DCLError(f"download of {url} stopped at {have + received} bytes of "
                                   f"{have + promised}; run the command again to resume from {part}")
        except urllib.error.HTTPError as e:
            if 300 <= e.code < 400:  # urllib gives up on a redirect loop with the last 30x
                raise DCLError(f"download of {url} failed: the server redirects in a loop (HTTP {e.code} after "
                               f"{HttpOnlyRedirects.max_redirections} redirects or a repeated URL)") from None
            if not (e.code == 416 and have):  # 416: nothing left to send, the .part may be whole
                raise DCLError(f"download of {url} failed: HTTP {e.code} {one_line(e.reason)}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DCLError(f"download of {url} failed: no space left on device for {part}; free some space "
                               f"and run the command again to resume") from None
            reason = one_line(getattr(e, "reason", None) or f"{type(e).__name__}: {e}")
            if isinstance(e, http.client.HTTPException):
                reason = f"the server does not answer HTTP: {type(e).__name__} {one_line(e)[:60]!r}"
            if clock.left(received) < 0:
                reason = f"it did not finish within {clock.describe(received)}: {reason}"
            again = f"run the command again to resume from {part}" if part.exists() else "try again later"
            raise DCLError(f"download of {url} failed ({reason}); {again}") from None
    got_size = part.stat().st_size  # a complete response: now it must be the right file
    got = md5_file(part)
    if got != md5 or (size is not None and got_size != size):
        part.unlink()
        raise DCLError(f"{dest.name}: checksum mismatch (MD5 {got}, {got_size} bytes; expected MD5 {md5}"
                       f"{f', {size} bytes' if size is not None else ''}); deleted the partial download {part}")
    os.replace(part, dest)
    return dest


def _drop(part: Path) -> None:
    try:
        part.unlink()
    except FileNotFoundError:
        pass
