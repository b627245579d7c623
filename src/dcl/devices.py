"""The machine: which device a run uses, what an option cannot do there, and what a
measurement records about the machine (the CPU's name and the load, for ``dcl bench`` and
``dcl reproduce``).

``device="auto"`` (the default) is CUDA when there is a GPU, else Apple's MPS, else the CPU.
:func:`device_notes` lists, one line each, the options of a config that have no effect on the
chosen device (e.g. ``amp`` on a CPU), so a run never ignores a setting silently.
"""
from __future__ import annotations

import os
import platform
import resource

import torch

from .errors import DCLError


def auto_device() -> str:
    """``"cuda"`` if CUDA is available, else ``"mps"`` if MPS is, else ``"cpu"``."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(name: str) -> torch.device:
    """The :class:`torch.device` for ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``);
    a device this machine lacks is a DCLError."""
    if name == "auto":
        return torch.device(auto_device())
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DCLError(f"unknown device {name!r}; valid choices: auto, cpu, cuda, cuda:N, mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DCLError(f"device {name!r} is not available (no CUDA); use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DCLError(f"device {name!r} is not available: this machine has {torch.cuda.device_count()} "
                           f"CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DCLError(f"device {name!r} is not available; use --device cpu or auto")
    return dev


def device_notes(cfg, device: torch.device) -> list[str]:
    """One line for every option of ``cfg`` that cannot apply on ``device``."""
    notes = []
    if cfg.amp and device.type != "cuda":
        notes.append(f"note: amp=true has no effect on {device.type}: bf16 autocast is used on CUDA only; "
                     f"training in float32")
    return notes


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: max allocated since the last reset; elsewhere: peak resident memory of this process."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


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


def device_name(device: torch.device | str) -> str:
    """``device`` and what it is: ``cuda:0 (NVIDIA H100 80GB HBM3)``, ``cpu (AMD EPYC 7B13)``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({cpu_name()})" if device.type == "cpu" else str(device)


def loadavg() -> float | None:
    """The 1-minute load average, rounded to 2 decimals; None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
