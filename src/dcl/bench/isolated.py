"""One method's device-level peak memory, measured in a fresh process (``dcl bench`` spawns it).

    python -m dcl.bench.isolated '{"config": {...TrainConfig fields...}, "steps": 2}'

prints one JSON object: ``rss_peak_mb`` (the peak resident set of this process, see
:func:`peak_rss_mb`: libraries, weights and everything training allocated), ``rss_base_mb`` (resident set after building the network and
the method, before the first step) and, on CUDA, ``cuda_peak_mb`` (``max_memory_allocated``
over the steps, after a reset). A fresh process per method keeps one method's high-water mark
from hiding another's.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Any

import torch

MB = 2 ** 20


def current_rss_mb() -> float:
    """Resident set size now (Linux ``/proc/self/statm``; elsewhere the high-water mark)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident set: Linux ``VmHWM``, elsewhere ``ru_maxrss``.

    Not ``ru_maxrss`` on Linux: it survives ``fork`` + ``exec``, so a child started by a big
    parent reports at least the parent's size at the fork; ``VmHWM`` belongs to the new image.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / MB if sys.platform == "darwin" else r / 1024.0  # macOS: bytes; Linux: KiB


def measure(config: dict[str, Any], steps: int = 2, threads: int | None = None) -> dict[str, Any]:
    """Build the method of ``config`` here, run ``steps`` training steps on random data, report peaks."""
    if threads:
        torch.set_num_threads(threads)
    from ..config import TrainConfig
    from .build import build_bench_run

    cfg = TrainConfig.from_dict(config)
    run, x, y = build_bench_run(cfg)
    cuda = run.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(run.device)
        torch.cuda.reset_peak_memory_stats(run.device)
    base = current_rss_mb()
    for _ in range(max(1, steps)):
        run.method.train_step(x, y)
    out: dict[str, Any] = {"rss_base_mb": base, "rss_peak_mb": peak_rss_mb()}
    if cuda:
        torch.cuda.synchronize(run.device)
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(run.device) / MB
    return out


def measure_in_subprocess(config: dict[str, Any], steps: int = 2, threads: int | None = None,
                          timeout: float | None = None) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process; returns its JSON (or ``{"error": ...}``)."""
    args = {"config": config, "steps": steps, "threads": threads}
    cmd = [sys.executable, "-m", "dcl.bench.isolated", json.dumps(args)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    args = json.loads((argv if argv is not None else sys.argv[1:])[0])
    print(json.dumps(measure(args["config"], int(args.get("steps", 2)), args.get("threads"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
