"""The memory-throughput frontier (``dcl bench --frontier``): every method at several micro-batch
counts, measured side by side, and DCL's throughput against the best of BP's memory savers at
every memory budget.

    from dcl.bench import run_frontier, format_frontier
    result = run_frontier("vgg8b", "cifar10", 128, ["bp", "bp-ckpt", "bp-accum", "dcl", "dcl-s"])
    print(format_frontier(result))          # points + DCL / best-BP at every budget

A *point* is one method run with M micro-batches (``micro_batches``; the effective batch stays
``batch_size``): ``bp`` only whole, ``bp-accum`` with M >= 2, ``bp-ckpt`` and the DCL methods with
every M (methods whose loss cannot be split take M = 1 only). All points are timed interleaved in
one run (:func:`dcl.bench.run_benchmark`); memory is the accounted peak.

For a memory budget m, a family's throughput is the best of its points that fit (memory <= m).
The comparison at m is DCL's best / the baselines' best; it changes only at the points'
memories, so :func:`frontier_summary` evaluates it there, over every budget where both run.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..errors import DCLError
from .runner import Variant, run_benchmark

DEFAULT_MICRO_BATCHES = (1, 2, 4, 8)
#: BP and its memory savers: the baselines of the frontier
BASELINES = ("bp", "bp-ckpt", "bp-accum")


def point_label(method: str, m: int) -> str:
    return method if m == 1 else f"{method} M={m}"


def frontier_variants(methods: Sequence[str], micro_batches: Sequence[int] = DEFAULT_MICRO_BATCHES) -> list[Variant]:
    """The points of the frontier: each method with each M it can take (see the module doc)."""
    from ..methods import METHODS

    sizes = sorted({int(m) for m in micro_batches})
    if not sizes or sizes[0] < 1:
        raise DCLError(f"--micro-batches must be positive integers, got {','.join(map(str, micro_batches))}")
    out = []
    for name in methods:
        cls = METHODS.get(name)
        ms = sizes if cls.supports_micro_batches else [1]
        if cls.default_micro_batches > 1:  # bp-accum: M = 1 would be bp itself
            ms = [m for m in ms if m > 1]
        out += [Variant(point_label(name, m), name, {"micro_batches": m}) for m in ms]
    if not out:
        raise DCLError("no frontier points: give methods and micro-batch counts (e.g. --micro-batches 1,2,4)")
    return out


def frontier_summary(rows: list[dict[str, Any]], baselines: Sequence[str] = BASELINES,
                     memory_key: str = "peak_memory_mb") -> dict[str, Any]:
    """For every non-baseline method: its throughput / the baselines' best at every memory budget
    where both have a point that fits. ``{"budgets": {method: [{"budget_mb", "ratio", "point",
    "baseline"}]}, "min_ratio": {method: ...}, "min_at": {method: budget_mb}}``."""
    base = [r for r in rows if r["method"] in baselines]
    others = sorted({r["method"] for r in rows if r["method"] not in baselines})
    budgets = sorted({r[memory_key] for r in rows})

    def best(points, budget):
        fit = [r for r in points if r[memory_key] <= budget]
        return max(fit, key=lambda r: r["samples_per_second"]) if fit else None

    out: dict[str, Any] = {"memory_key": memory_key, "baselines": list(baselines), "budgets": {}, "min_ratio": {},
                           "min_at": {}}
    for method in others:
        mine = [r for r in rows if r["method"] == method]
        series = []
        for b in budgets:
            p, q = best(mine, b), best(base, b)
            if p is not None and q is not None:
                series.append({"budget_mb": b, "ratio": p["samples_per_second"] / q["samples_per_second"],
                               "point": p["label"], "baseline": q["label"]})
        out["budgets"][method] = series
        if series:
            worst = min(series, key=lambda s: s["ratio"])
            out["min_ratio"][method] = worst["ratio"]
            out["min_at"][method] = worst["budget_mb"]
    return out


def run_frontier(arch: str, data: str, batch_size: int, methods: Sequence[str],
                 micro_batches: Sequence[int] = DEFAULT_MICRO_BATCHES, *,
                 log: Callable[[str], None] | None = None, **bench_kwargs: Any) -> dict[str, Any]:
    """Measure every frontier point (:func:`frontier_variants`) with :func:`run_benchmark`
    (``bench_kwargs``: ``steps``, ``repeats``, ``device``, ``threads``, ``overrides``, ...).
    Returns ``{"rows": [...], "summary": frontier_summary(rows)}``."""
    names = [m.strip() for m in methods if m.strip()]
    if len(set(names)) != len(names):
        raise DCLError(f"--methods lists a method twice: {','.join(names)}")
    variants = frontier_variants(names, micro_batches)
    if log:
        log(f"frontier: {len(variants)} points: {', '.join(v.label for v in variants)}")
    rows = run_benchmark(arch, data, batch_size, variants=variants, log=log, **bench_kwargs)
    return {"rows": rows, "summary": frontier_summary(rows)}


def format_frontier(result: dict[str, Any]) -> str:
    """The frontier's points (by method, then memory) and DCL / best baseline at every budget."""
    rows, summary = result["rows"], result["summary"]
    r0 = rows[0]
    load = ""
    if r0.get("loadavg_before") is not None:
        load = f"; 1-min load {r0['loadavg_before']:.2f} -> {r0['loadavg_after']:.2f}"
    dev = r0.get("gpu") or f"{r0.get('cpu', '?')}, {r0.get('threads')} threads"
    lines = [f"frontier: {r0['arch']} on {r0['data']}-shaped batches, effective batch {r0['batch_size']}, "
             f"{r0['device']} ({dev}), torch {r0.get('torch')}",
             f"time: median of {r0['repeats']} interleaved rounds x {r0['steps']} steps{load}",
             "memory (MiB): accounted peak = saved-for-backward + weights + grads + optimizer state"]
    header = ["point", "M", "micro-batch", "memory", "saved", "grads", "ms/step", "samples/s", "cpu ms"]
    table = []
    order = {m: i for i, m in enumerate(dict.fromkeys(r["method"] for r in rows))}
    for r in sorted(rows, key=lambda r: (order[r["method"]], -r["peak_memory_mb"])):
        m = r["micro_batches"]
        table.append([r["label"], str(m), str(-(-r["batch_size"] // m)), f"{r['peak_memory_mb']:,.1f}",
                      f"{r['saved_peak_mb']:,.1f}", f"{r['grads_peak_mb']:,.1f}", f"{r['step_ms']:,.0f}",
                      f"{r['samples_per_second']:,.1f}", f"{r['cpu_ms']:,.0f}"])
    widths = [max(len(c) for c in col) for col in zip(header, *table)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    lines += [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(t) for t in table]
    base = "/".join(summary["baselines"])
    for method, series in summary["budgets"].items():
        lines.append("")
        if not series:
            lines.append(f"{method}: no memory budget where both it and {base} run")
            continue
        lines.append(f"{method} / best of {base} at each memory budget (samples/s ratio); "
                     f"lowest {summary['min_ratio'][method]:.2f}x at {summary['min_at'][method]:,.1f} MiB")
        for s in series:
            lines.append(f"  <= {s['budget_mb']:9,.1f} MiB: {s['ratio']:.2f}x  ({s['point']} vs {s['baseline']})")
    return "\n".join(lines)
