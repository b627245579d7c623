"""Rank processes for tests/test_parallel.py (spawned; not a test module itself).

Each spawned rank joins one gloo process group and runs several training cases in it (the
group is shared across cases, so the slow process start-up is paid once per world size).
"""
from __future__ import annotations

import datetime
import os
import traceback
from pathlib import Path

import torch
import torch.distributed as dist


def tiny_dataset(data_dir: str, n_train: int, n_test: int):
    from dcl.data import Dataset, load_dataset
    ds = load_dataset("mnist", data_dir)
    return Dataset(ds.spec, ds.train.subset(torch.arange(n_train)), ds.test.subset(torch.arange(n_test)), ds.folder)


def run_case(case: dict, dataset, out: Path) -> dict:
    import dcl
    cfg = dcl.resolve_config(**case["cfg"])
    if case.get("resume_from_epochs"):  # train part of the run, then resume it to the end
        dcl.train(cfg.replace(epochs=case["resume_from_epochs"]), out, dataset=dataset)
        return dcl.train(cfg, out, dataset=dataset, resume=True)
    return dcl.train(cfg, out, dataset=dataset)


def rank_main(rank: int, world: int, port: int, cases: list[dict], root: str, data: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    try:
        dataset = tiny_dataset(**data)
        for case in cases:
            out = Path(root) / case["name"]
            summary = run_case(case, dataset, out)
            if rank == 0:
                torch.save({"summary": summary}, Path(root) / f"{case['name']}.result.pt")
    except BaseException:
        (Path(root) / f"rank{rank}.error.txt").write_text(traceback.format_exc())
        raise
    finally:
        dist.destroy_process_group()
