"""Communication failures as one-line errors, and what a rank sent and waited for.

Every call into torch.distributed in this package runs under :func:`guard`: when another rank
crashed (its sockets close: gloo reports "Connection closed by peer" at once) or did not
answer within ``dist_timeout`` seconds, the error this rank raises is a :class:`PeerError`, a
:class:`~dcl.errors.DCLError`, so the command line prints it as one line and exits with
status 2 instead of hanging or printing a traceback.
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import DCLError


class PeerError(DCLError):
    """Another rank crashed, stopped, or did not answer within ``dist_timeout``."""


def short_reason(e: BaseException) -> str:
    """The gist of a gloo / NCCL error on one line: no source path, no advice paragraph."""
    text = " ".join(str(e).split()) or type(e).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)           # "[/path/pair.cc:553] "
    text = text.split(". This is typically")[0]
    return text[:200].rstrip(". ")


@contextmanager
def guard(where: str, what: str):
    """Turn a failure of the communication inside into a one-line :class:`PeerError`.

    ``where``: this rank (``Mesh.where()``); ``what``: the operation, e.g. "receiving
    activations from rank 0".
    """
    try:
        yield
    except DCLError:
        raise
    except RuntimeError as e:  # DistBackendError, DistNetworkError, DistStoreError, gloo/NCCL errors
        raise PeerError(f"{where}: {what} failed ({short_reason(e)}); another rank crashed, stopped or did not "
                        f"answer within dist_timeout; the run stopped (continue it with --resume)") from None


@dataclass
class CommStats:
    """Counters of one rank: bytes it sent, seconds it waited, seconds it computed."""

    p2p_bytes: int = 0          # activations, labels and headers sent to the next stage
    collective_bytes: int = 0   # tensors this rank contributed to all-reduces and broadcasts
    waits: dict[str, float] = field(default_factory=dict)  # seconds waited, by kind
    compute_seconds: float = 0.0
    steps: int = 0

    def waited(self, kind: str, t0: float) -> None:
        self.waits[kind] = self.waits.get(kind, 0.0) + time.perf_counter() - t0

    @property
    def wait_seconds(self) -> float:
        return sum(self.waits.values())

    def reset(self) -> None:
        self.p2p_bytes = self.collective_bytes = self.steps = 0
        self.waits = {}
        self.compute_seconds = 0.0
