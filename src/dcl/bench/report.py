"""The text table of a benchmark (``dcl bench`` without ``--json``)."""
from __future__ import annotations

from typing import Any


def _f(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A header line (network, shape, machine, load) and one table row per method, each figure
    next to its ratio to ``bp`` of the same run. Memory in MiB."""
    if not rows:
        return "(no methods)"
    r0 = rows[0]
    dev = r0.get("gpu") or f"{r0.get('cpu', '?')}, {r0.get('threads')} threads"
    load = ""
    if r0.get("loadavg_before") is not None:
        load = f"; 1-min load {r0['loadavg_before']:.2f} -> {r0['loadavg_after']:.2f}"
    opts = [k for k in ("compile", "amp", "channels_last") if r0.get(k)]
    head = (f"{r0['arch']} on {r0['data']}-shaped random batches, batch {r0['batch_size']}, {r0['device']} ({dev}), "
            f"torch {r0.get('torch')}{' + ' + ', '.join(opts) if opts else ''}\n"
            f"time: median of {r0['repeats']} interleaved rounds x {r0['steps']} steps after {r0['warmup']} warm-up{load}\n"
            f"speed = samples/s relative to bp; paired = median over rounds of bp's step time / this one's in the "
            f"same round;\ncpu ms = process CPU time per step, its speed = bp's / this\n"
            f"memory (MiB): accounted peak = saved-for-backward + weights + grads + optimizer state")
    has_rss = any("rss_peak_mb" in r for r in rows)
    has_cuda = any("cuda_peak_mb" in r for r in rows)
    header = ["method", "params", "Δθ", "ms/step", "samples/s", "speed", "paired", "cpu ms", "speed", "memory", "vs bp",
              "saved", "vs bp",
              "weights", "grads", "opt"]
    if has_cuda:
        header += ["cuda peak", "vs bp"]
    if has_rss:
        header += ["RSS peak", "RSS train", "vs bp"]
    table = []
    for r in rows:
        is_bp = r.get("label", r["method"]) == "bp"
        line = [r.get("label", r["method"]), _f(r["params"]), _f(r["delta_params"]), _f(r["step_ms"], 0),
                _f(r["samples_per_second"], 1), "1.00x" if is_bp else _x(r.get("speedup_vs_bp")),
                "1.00x" if is_bp else _x(r.get("paired_speedup_vs_bp")),
                _f(r["cpu_ms"], 0), "1.00x" if is_bp else _x(r.get("cpu_speedup_vs_bp")),
                _f(r["peak_memory_mb"]), "1.00x" if is_bp else _x(r.get("memory_vs_bp")),
                _f(r["saved_peak_mb"]), "1.00x" if is_bp else _x(r.get("saved_vs_bp")),
                _f(r["weights_mb"]), _f(r["grads_peak_mb"]), _f(r["optimizer_state_mb"])]
        if has_cuda:
            line += [_f(r.get("cuda_peak_mb")), "1.00x" if is_bp else _x(r.get("cuda_peak_vs_bp"))]
        if has_rss:
            line += [_f(r.get("rss_peak_mb"), 0), _f(r.get("rss_train_mb"), 0),
                     "1.00x" if is_bp else _x(r.get("rss_train_vs_bp"))]
        table.append(line)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *table)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    lines = [head, fmt(header), "  ".join("-" * w for w in widths)] + [fmt(l) for l in table]
    errs = [f"{r.get('label', r['method'])}: fresh-process measurement failed: {r['isolated_error']}" for r in rows if "isolated_error" in r]
    return "\n".join(lines + errs)
