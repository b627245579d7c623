"""Every built-in method's recorded 20-step run (tests/golden_runs.py) comes out the same.

On the CPU model and thread count that recorded ``tests/golden/method-runs.json`` the numbers
must be equal bit for bit; elsewhere (another CPU's kernels round differently) they must agree
to 1e-4 relative, and the test says which comparison it made.
"""
import json
import math

import pytest
import torch

import golden_runs as golden

RECORDED = json.loads(golden.GOLDEN.read_text())
SAME_MACHINE = (RECORDED["cpu"] == golden.cpu_name() and RECORDED["torch"] == torch.__version__)


@pytest.fixture(scope="module")
def dataset(real_data_dir):
    return golden.small_mnist(real_data_dir)


def _flatten(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{path}[{i}]")
    else:
        yield path, value


@pytest.mark.parametrize("method", list(golden.RUNS))
def test_a_methods_recorded_run_comes_out_the_same(method, dataset):
    threads = torch.get_num_threads()
    torch.set_num_threads(golden.THREADS)
    try:
        got = golden.run_method(method, dataset)
    finally:
        torch.set_num_threads(threads)
    want = RECORDED["runs"][method]
    got_flat, want_flat = dict(_flatten(got)), dict(_flatten(want))
    assert got_flat.keys() == want_flat.keys()
    for key, expected in want_flat.items():
        value = got_flat[key]
        if SAME_MACHINE:
            assert value == expected, f"{method} {key}: {value!r} != recorded {expected!r} (bit for bit)"
        else:
            assert math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-6), \
                f"{method} {key}: {value!r} != recorded {expected!r} (1e-4, recorded on {RECORDED['cpu']})"
