"""Progress of a long loop, whoever watches: a bar on a terminal (or in Jupyter), else a line
every minute once the loop has run a minute, so that no loop of over a minute runs silently.

    for step in progress(range(5000), "CaFo predictor 1"):
        ...
    # on a terminal: a tqdm bar; in a log file, after 60 s:  CaFo predictor 1: 1,210/5,000 (24 %), 60 s, about 188 s left
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
#: seconds between two progress lines (and before the first)
EVERY = 60.0


def watching() -> bool:
    """Does someone watch a terminal (stderr is one) or a Jupyter kernel?"""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Lines:
    """``tick()`` after each item; a line through ``log`` every :data:`EVERY` seconds."""

    def __init__(self, desc: str, total: int | None, log: Callable[[str], None] | None = _stderr,
                 done: int = 0, every: float | None = None):
        self.desc, self.total, self.log, self.done = desc, total, log, done
        self.every = EVERY if every is None else every
        self.start = time.monotonic()
        self.next = self.start + self.every

    def tick(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.log is None or now < self.next:
            return
        self.next = now + self.every
        spent = now - self.start
        if self.total:
            left = spent / max(self.done, 1) * (self.total - self.done)
            self.log(f"{self.desc}: {self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f} %), "
                     f"{spent:.0f} s, about {left:.0f} s left")
        else:
            self.log(f"{self.desc}: {self.done:,} done, {spent:.0f} s")


def progress(items: Iterable[T], desc: str, total: int | None = None, *, bar: bool | None = None,
             log: Callable[[str], None] | None = _stderr) -> Iterator[T]:
    """``items``, with a tqdm bar when ``bar`` (default: :func:`watching`), else lines through
    ``log`` (default stderr; None: silent) every minute once a minute has passed."""
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    if watching() if bar is None else bar:
        from tqdm.auto import tqdm
        yield from tqdm(items, desc=desc, total=total, leave=False, dynamic_ncols=True)
        return
    lines = Lines(desc, total, log)
    for item in items:
        yield item
        lines.tick()
