"""Shared fixtures. Real MNIST / Fashion-MNIST come from $DCL_DATA_DIR (CI points it at
../shared/data); tests that need them are skipped with a reason when they are absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


ROOT = Path(__file__).resolve().parents[1]
_RUNS_AT_START: list[str] | None = None


def _runs_listing() -> list[str]:
    runs = ROOT / "runs"
    return sorted(str(p.relative_to(runs)) for p in runs.rglob("*")) if runs.is_dir() else []


def pytest_sessionstart(session):
    global _RUNS_AT_START
    _RUNS_AT_START = _runs_listing()


def pytest_sessionfinish(session, exitstatus):
    """Tests write only into temporary folders: the checkout's runs/ ends as it started."""
    if _RUNS_AT_START is None or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    added = sorted(set(_runs_listing()) - set(_RUNS_AT_START))
    if added:
        msg = (f"the tests wrote into {ROOT / 'runs'}: {', '.join(added[:5])}{' ...' if len(added) > 5 else ''}; "
               f"tests must write only into temporary folders")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line(msg, red=True) if reporter else print(msg)
        session.exitstatus = 1


@pytest.fixture(scope="session", autouse=True)
def _session_in_a_scratch_folder(tmp_path_factory):
    """Session- and module-scoped fixtures run before the per-test folder below: they start in a
    scratch folder too (a subprocess they launch inherits it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("session-cwd"))
        yield


@pytest.fixture(autouse=True)
def _run_in_a_scratch_folder(tmp_path_factory, monkeypatch):
    """Every test runs in a fresh current folder, so a run without --out (which goes to
    ./runs/) never writes into the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.cuda`` tests need a CUDA device: skipped without one (benchmarks/gpu.sh runs them)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run benchmarks/gpu.sh where one is lent)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def _real_data_dir() -> Path | None:
    for cand in (os.environ.get("DCL_DATA_DIR"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if cand and (Path(cand) / "mnist").is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    d = _real_data_dir()
    if d is None:
        msg = "real MNIST not found: set DCL_DATA_DIR to a folder holding mnist/ and fashion-mnist/"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI must run the real-data tests, never skip them
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def mnist(real_data_dir):
    from dcl.data import load_dataset
    return load_dataset("mnist", real_data_dir)


@pytest.fixture(scope="session")
def fashion_mnist(real_data_dir):
    from dcl.data import load_dataset
    return load_dataset("fashion-mnist", real_data_dir)


def small_dataset(ds, n_train: int = 512, n_test: int = 256):
    """The first n samples of each split of a loaded dataset (a new Dataset object)."""
    from dcl.data import Dataset
    return Dataset(ds.spec, ds.train.subset(torch.arange(n_train)), ds.test.subset(torch.arange(n_test)), ds.folder)


def random_dataset(name: str = "cifar10", n_train: int = 64, n_test: int = 32, seed: int = 0):
    """Random uint8 images and labels shaped like dataset ``name`` (no files needed)."""
    from dcl.data import DATASETS, Dataset, Split
    spec = DATASETS.get(name)
    g = torch.Generator().manual_seed(seed)

    def split(n):
        return Split(torch.randint(0, 256, (n, *spec.in_shape), generator=g, dtype=torch.uint8),
                     torch.randint(0, spec.num_classes, (n,), generator=g))

    return Dataset(spec, split(n_train), split(n_test), None)


def layer_gradient_sources(method, x, y):
    """One ``method.train_step(x, y)``; returns ``(sources, inputs_need_grad)``: for every network
    parameter the set of layers ('block i' / 'head') whose forward came last before it got a
    gradient, and for every layer forward whether its input needed a gradient. Every block's
    forward goes through ``net.block_forward`` (lean blocks skip submodule hooks), the head's
    through its own call."""
    net, phase, sources, inputs_need_grad = method.net, {"now": None}, {}, []

    def entering(name, h):
        phase["now"] = name
        inputs_need_grad.append(h.requires_grad)

    handles = [p.register_hook(lambda g, n=n: sources.setdefault(n, set()).add(phase["now"]))
               for n, p in net.named_parameters()]
    handles.append(net.head.register_forward_pre_hook(lambda module, args: entering("head", args[0])))
    block_forward = net.block_forward

    def forward(i, h, tap=None):
        entering(f"block {i}", h)
        return block_forward(i, h, tap)

    net.block_forward = forward
    try:
        method.train_step(x, y)
    finally:
        del net.block_forward
        for hd in handles:
            hd.remove()
    return sources, inputs_need_grad


def own_layer(name: str) -> str:
    """The layer a parameter name belongs to: 'block i' for ``blocks.i.*``, else 'head'."""
    return f"block {name.split('.')[1]}" if name.startswith("blocks.") else "head"
