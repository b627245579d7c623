"""What a measurement records about the machine it ran on: the CPU's name and the load.

Used by ``dcl bench`` (:mod:`dcl.bench.runner`) and ``dcl reproduce``
(:mod:`dcl.reproduce.provenance`), so every figure says where and under what load it was made.
"""
from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> float | None:
    """The 1-minute load average, rounded to 2 decimals; None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
