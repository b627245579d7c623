"""``dcl bench --stages 1,2,4``: a local pipeline's throughput per stage count, each stage's
idle fraction and the bytes it sends per step; ``--replicas N``: data parallelism with and
without overlapping the gradient all-reduce with backward.

For every stage count S the benchmark starts S local processes (gloo on CPUs, NCCL with one
GPU each on CUDA), builds the network and method of the preset like ``dcl train`` with
``--stages S`` (:mod:`dcl.parallel.standalone`), and trains ``warmup + steps`` batches
through the pipeline on one fixed random batch shaped like the dataset (no data files are
read). Per stage, over the timed steps:

* samples/s at the pipeline's end (the last stage: batches it finished per second x batch);
* idle fraction: seconds waiting to receive, for a send slot, or for the dictionary sync,
  over the stage's wall time;
* bytes sent per step to the next stage (activations + labels + header) and contributed to
  collectives;
* CPU seconds per step summed over the stages' processes, and its ratio to one stage: the
  work the pipeline adds (on a shared machine, S processes also get a larger share of the
  cores than one, so wall-clock speed-ups there are not speed-ups on S devices).

The one-stage run also measures every block's step time (CPU time on CPUs:
:func:`dcl.parallel.plan.block_costs`) and the activation size at every block boundary, and
the two-stage run a link's latency and bandwidth (ping-pong between ranks 0 and 1):
:mod:`dcl.parallel.costmodel` turns them into the predicted speed-up on S devices.
"""
from __future__ import annotations

import datetime
import os
import socket
import statistics
import time
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..config import resolve_config
from ..errors import DCLError
from ..models.split import trace_shapes
from .costmodel import Link, pipeline_speedup
from .gradients import GradientAverager
from .loaders import BatchSlot
from .mesh import init_mesh
from .plan import StagePlan, block_costs
from .runtime import Parallel
from .stage import StageMethod, check_stageable
from .standalone import build_stage_method, stage_config
from .transfer import ReceiveLoader


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build(job: dict, stages: int, rank: int):
    cfg = stage_config(arch=job["arch"], data=job["data"], method=job["method"], batch_size=job["batch_size"],
                       device=job["device"], stages=stages, **job["overrides"])
    if cfg.device == "auto":
        cfg = cfg.replace(device="cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda"):
        cfg = cfg.replace(device=f"cuda:{rank % torch.cuda.device_count()}")
    method = build_stage_method(cfg, cfg.device)
    net = method.net
    g = torch.Generator().manual_seed(cfg.seed + 1)
    x = torch.randn(cfg.batch_size, *net.in_shape, generator=g).to(cfg.device)
    y = torch.randint(0, net.num_classes, (cfg.batch_size,), generator=g).to(cfg.device)
    net.train()
    return cfg, method, x, y


def _sync(device) -> float:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


def measure_link(mesh, nbytes: int, repeats: int = 10) -> Link:
    """Latency and bandwidth between ranks 0 and 1 from ping-pongs of 1 KiB and ``nbytes`` (at
    least 4 MiB); the fastest of ``repeats`` round trips (the link, not the machine's load)."""
    times = []
    for n in (1024, max(nbytes, 4 * 2 ** 20)):
        buf = torch.zeros(n // 4, device=mesh.device)
        rounds = []
        for _ in range(repeats + 1):
            t0 = _sync(mesh.device)
            if mesh.rank == 0:
                dist.send(buf, 1)
                dist.recv(buf, 1)
            elif mesh.rank == 1:
                dist.recv(buf, 0)
                dist.send(buf, 0)
            rounds.append((_sync(mesh.device) - t0) / 2)
        times.append((n, min(rounds[1:])))
    (n0, t0), (n1, t1) = times
    bandwidth = (n1 - n0) / max(t1 - t0, 1e-9)
    return Link(latency=max(t0 - n0 / bandwidth, 0.0), bandwidth=bandwidth)


def _stage_worker(rank: int, stages: int, port: int, job: dict, queue) -> None:
    torch.set_num_threads(job["threads"])
    cfg, method, x, y = _build(job, stages, rank)
    warmup, steps, B = job["warmup"], job["steps"], cfg.batch_size
    out: dict[str, Any] = {"rank": rank, "stage": rank}
    if stages == 1:
        check_stageable(method)
        out["block_ms"] = [1e3 * t for t in block_costs(method, B)]
        shapes, _ = trace_shapes(list(method.net.blocks), method.net.head, method.net.in_shape)
        out["boundary_bytes"] = [B * 4 * torch.Size(s).numel() + 8 * B + 80 for s in shapes]
        for t in range(warmup + steps):
            if t == warmup:
                t0, c0 = _sync(cfg.device), time.process_time()
            method.train_step(x, y)
        out.update(wall=_sync(cfg.device) - t0, cpu=time.process_time() - c0, waits={}, p2p_bytes=0,
                   collective_bytes=0, split=[len(shapes)])
        queue.put(out)
        return
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    backend = "nccl" if cfg.device.startswith("cuda") else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=stages, timeout=datetime.timedelta(seconds=300))
    try:
        mesh = init_mesh(cfg)
        par = Parallel(mesh)
        plan = StagePlan(par.choose_split(method, cfg))
        if stages == 2:
            out["link"] = measure_link(mesh, job["link_bytes"]).__dict__
        slot = BatchSlot()
        stage = StageMethod(method, mesh, slot, plan, cfg.max_in_flight)
        if mesh.is_first:
            slot.set(y, B)
            batches = ((x, y) for _ in range(warmup + steps))
        else:
            batches = ReceiveLoader(mesh, rank - 1, warmup + steps, on_batch=slot.set, on_start=stage.fill,
                                    sizes=[B] * (warmup + steps))
        for t, (h, yy) in enumerate(batches):
            if t == warmup:
                mesh.stats.reset()
                t0, c0 = _sync(cfg.device), time.process_time()
            stage.update(h, yy)
        wall, cpu = _sync(cfg.device) - t0, time.process_time() - c0
        s = mesh.stats
        out.update(wall=wall, cpu=cpu, waits=dict(s.waits), p2p_bytes=s.p2p_bytes, collective_bytes=s.collective_bytes,
                   compute=s.compute_seconds, split=list(plan.counts))
        stage.drain()
        queue.put(out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _dp_worker(rank: int, replicas: int, port: int, job: dict, queue) -> None:
    torch.set_num_threads(job["threads"])
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cfg, method, x, y = _build(job, 1, rank)
    backend = "nccl" if cfg.device.startswith("cuda") else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=replicas, timeout=datetime.timedelta(seconds=300))
    try:
        mesh = init_mesh(cfg)
        a, b = rank * x.shape[0] // replicas, (rank + 1) * x.shape[0] // replicas
        xs, ys = x[a:b], y[a:b]
        slot = BatchSlot()
        slot.set(ys, x.shape[0])
        params = list({id(p): p for o in method.optimizers for g in o.param_groups for p in g["params"]}.values())
        result = {"rank": rank}
        for overlap in (False, True) * job["rounds"]:  # interleaved rounds
            avg = GradientAverager(params, mesh, slot, overlap=overlap)
            method.gradient_sync = avg
            for t in range(job["warmup"] + job["steps"]):
                if t == job["warmup"]:
                    dist.barrier()
                    t0, c0 = _sync(cfg.device), time.process_time()
                method.train_step(xs, ys)
            wall, cpu = _sync(cfg.device) - t0, time.process_time() - c0
            dist.barrier()
            mode = "overlap" if overlap else "plain"
            result.setdefault(mode, []).append(wall)
            result.setdefault(f"{mode}_cpu", []).append(cpu)
            avg.remove()
        queue.put(result)
    finally:
        dist.destroy_process_group()


def _spawn(worker: Callable, nprocs: int, job: dict) -> list[dict]:
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(worker, args=(nprocs, _free_port(), job, queue), nprocs=nprocs, start_method="spawn")
    results = [queue.get() for _ in range(nprocs)]
    return sorted(results, key=lambda r: r["rank"])


def run_stage_bench(arch: str, data: str, batch_size: int, method: str, stage_counts: Sequence[int], *,
                    steps: int = 20, warmup: int = 3, threads: int = 1, device: str = "cpu",
                    overrides: dict | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time the pipeline for each of ``stage_counts`` (module doc). Returns ``{"rows": [...],
    "block_ms", "boundary_bytes", "link", "model": [...]}``; the model's rows predict the
    speed-up on S devices from the one-stage block times and the measured link."""
    counts = sorted(set(int(s) for s in stage_counts))
    if not counts or counts[0] < 1:
        raise DCLError(f"--stages takes stage counts >= 1, got {list(stage_counts)}")
    job = dict(arch=arch, data=data, method=method, batch_size=batch_size, device=device, steps=steps,
               warmup=warmup, threads=threads, overrides=dict(overrides or {}), link_bytes=0)
    resolve_config(arch=arch, data=data, method=method, batch_size=batch_size, **job["overrides"])  # names, values
    one = _spawn(_stage_worker, 1, job)[0]  # always: the sequential baseline and the block times
    job["link_bytes"] = max(one["boundary_bytes"])
    if counts[-1] > len(one["block_ms"]):
        raise DCLError(f"--stages {counts[-1]}: {arch} has {len(one['block_ms'])} blocks, so at most that many stages")
    rows, link = [], None
    for S in counts:
        ranks = [one] if S == 1 else _spawn(_stage_worker, S, job)
        link = link or next((r["link"] for r in ranks if "link" in r), None)
        last = ranks[-1]
        row = {"stages": S, "split": last["split"], "samples_per_second": steps * batch_size / last["wall"],
               "idle": [sum(r["waits"].values()) / r["wall"] for r in ranks],
               "bytes_per_step": [r["p2p_bytes"] / steps for r in ranks],
               "collective_bytes_per_step": [r["collective_bytes"] / steps for r in ranks],
               "cpu_ms_per_step": 1e3 * sum(r["cpu"] for r in ranks) / steps}
        row["speedup"] = row["samples_per_second"] / (steps * batch_size / one["wall"])
        row["cpu_vs_one"] = row["cpu_ms_per_step"] / (1e3 * one["cpu"] / steps)
        rows.append(row)
        if log:
            log(format_stage_row(row))
    model = []
    if link is not None:
        lk = Link(**link)
        model = [pipeline_speedup([t / 1e3 for t in one["block_ms"]], one["boundary_bytes"], S, lk)
                 for S in range(1, len(one["block_ms"]) + 1)]
    return {"arch": arch, "data": data, "method": method, "batch_size": batch_size, "threads": threads,
            "device": device, "steps": steps, "rows": rows, "block_ms": one["block_ms"],
            "boundary_bytes": one["boundary_bytes"], "link": link, "model": model}


def run_replica_bench(arch: str, data: str, batch_size: int, method: str, replicas: int, *, steps: int = 10,
                      warmup: int = 2, threads: int = 1, device: str = "cpu", overrides: dict | None = None,
                      rounds: int = 3) -> dict:
    """Samples/s of ``replicas`` data-parallel ranks on one global batch, with the gradient
    all-reduce overlapped with backward and without: ``rounds`` interleaved rounds of each, the
    median round (wall time of the slowest rank), and the CPU seconds per step of all ranks."""
    job = dict(arch=arch, data=data, method=method, batch_size=batch_size, device=device, steps=steps,
               warmup=warmup, threads=threads, overrides=dict(overrides or {}), rounds=rounds)
    ranks = _spawn(_dp_worker, replicas, job)
    out = {"replicas": replicas, "method": method, "arch": arch, "batch_size": batch_size, "threads": threads}
    for mode in ("plain", "overlap"):
        walls = [max(r[mode][i] for r in ranks) for i in range(rounds)]
        out[f"{mode}_samples_per_second"] = steps * batch_size / statistics.median(walls)
        out[f"{mode}_rounds_samples_per_second"] = [steps * batch_size / w for w in walls]
        out[f"{mode}_cpu_ms_per_step"] = 1e3 * statistics.median(sum(r[f"{mode}_cpu"][i] for r in ranks)
                                                                  for i in range(rounds)) / steps
    return out


def format_stage_row(r: dict[str, Any]) -> str:
    idle = " ".join(f"{100 * v:.0f}%" for v in r["idle"])
    sent = " ".join(f"{v / 2 ** 20:.2f}" for v in r["bytes_per_step"][:-1]) or "-"
    return (f"stages {r['stages']}  split {','.join(map(str, r['split']))}  {r['samples_per_second']:.1f} samples/s  "
            f"x{r['speedup']:.2f}  idle per stage [{idle}]  MiB sent per step [{sent}]  "
            f"CPU {r['cpu_ms_per_step']:.0f} ms/step (x{r['cpu_vs_one']:.2f} of 1 stage)")


def format_stage_report(rep: dict[str, Any]) -> str:
    lines = [f"{rep['arch']} on {rep['data']}, {rep['method']}, batch {rep['batch_size']}, {rep['threads']} thread(s) "
             f"per stage, {rep['device']}, {rep['steps']} timed steps"]
    lines += [format_stage_row(r) for r in rep["rows"]]
    lines.append("block step times (1 stage): " + ", ".join(f"{t:.1f}" for t in rep["block_ms"]) + " ms")
    if rep["link"]:
        lk = rep["link"]
        lines.append(f"link (ranks 0-1): latency {1e6 * lk['latency']:.0f} us, bandwidth "
                     f"{lk['bandwidth'] / 2 ** 30:.2f} GiB/s")
        lines.append("model, S devices each as fast as one stage here: " + ", ".join(
            f"S={m['stages']} x{m['speedup']:.2f}" for m in rep["model"]))
    return "\n".join(lines)


def run_cli(args, overrides: dict) -> int:
    """``dcl bench --stages S,S,.. | --replicas N`` (cli/bench.py hands over here)."""
    import json
    threads = args.threads or 1
    reports = []
    for method in (args.methods or "dcl").split(","):
        if args.stages:
            try:
                counts = [int(v) for v in args.stages.split(",") if v.strip()]
            except ValueError:
                raise DCLError(f"--stages takes comma-separated stage counts, e.g. 1,2,4; got {args.stages!r}") from None
            rep = run_stage_bench(args.arch, args.data, args.batch_size, method, counts, steps=args.steps,
                                  warmup=args.warmup, threads=threads, device=args.device, overrides=overrides)
            print(json.dumps(rep) if args.json else format_stage_report(rep))
            reports.append(rep)
        if args.replicas:
            rep = run_replica_bench(args.arch, args.data, args.batch_size, method, args.replicas, steps=args.steps,
                                    warmup=args.warmup, threads=threads, device=args.device, overrides=overrides)
            print(json.dumps(rep) if args.json else
                  f"{method}: {args.replicas} replicas, batch {args.batch_size}: all-reduce at the step "
                  f"{rep['plain_samples_per_second']:.1f} samples/s ({rep['plain_cpu_ms_per_step']:.0f} CPU ms/step); "
                  f"overlapped with backward {rep['overlap_samples_per_second']:.1f} samples/s "
                  f"({rep['overlap_cpu_ms_per_step']:.0f} CPU ms/step)")
    return 0
