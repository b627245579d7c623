"""The command line starts without importing torch: building the parser (``dcl --help``),
``dcl list`` (from the registry catalog) and rejecting bad names. Checked through
``sys.modules`` in fresh processes, not by timing."""
import json
import os
import subprocess
import sys

import pytest

from dcl.config.catalog import KINDS, entries, source_fingerprint

NO_TORCH = "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith(('torch', 'dcl')))"


def py(code: str, cache_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "DCL_CACHE_DIR": str(cache_dir)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """A catalog cache built by one `dcl list` (which may import torch: the first run after a code change)."""
    d = tmp_path_factory.mktemp("catalog")
    p = py("import json, sys, contextlib, io\nfrom dcl.cli import main\n"
           "buf = io.StringIO()\nwith contextlib.redirect_stdout(buf): code = main(['list'])\n"
           "print(json.dumps([code, buf.getvalue()]))", d)
    assert p.returncode == 0, p.stderr
    code, out = json.loads(p.stdout)
    assert code == 0
    assert (d / f"catalog-{source_fingerprint()}.json").is_file()
    return d, out


def test_building_the_parser_and_help_import_no_torch(tmp_path):
    p = py("import sys, dcl, dcl.cli\nparser = dcl.cli.build_parser()\nparser.format_help()\n"
           "assert dcl.__version__ and dcl.TrainConfig\n" + NO_TORCH, tmp_path)
    assert p.returncode == 0, p.stderr


def test_dcl_list_reads_the_catalog_without_torch_and_matches_the_registries(warm_cache):
    d, first = warm_cache
    p = py("import sys\nfrom dcl.cli import main\nassert main(['list']) == 0\n" + NO_TORCH, d)
    assert p.returncode == 0, p.stderr
    assert p.stdout == first
    for kind, (package, attr, _) in KINDS.items():  # the cache says what the live registries say
        reg = getattr(__import__(package, fromlist=[attr]), attr)
        live = [(e.name, e.description) for e in reg.entries()]
        assert entries(kind) == live
        for name, description in live:
            assert f"  {name}" in p.stdout and description in p.stdout


@pytest.mark.parametrize("argv, message", [
    (["train", "--arch", "nope", "--data", "mnist"], "unknown architecture 'nope'"),
    (["train", "--arch", "fc", "--data", "mnist", "--method", "bpp"], "unknown method 'bpp'"),
    (["bench", "--arch", "fc", "--data", "nodata", "--batch-size", "8"], "unknown dataset 'nodata'"),
    (["bench", "--arch", "fc", "--data", "mnist", "--batch-size", "8", "--set", "lr=fast"], "bad value 'fast' for lr"),
    (["describe", "--arch", "vgg9"], "unknown architecture 'vgg9'"),
    (["list", "things"], "unknown kind 'things'"),
])
def test_bad_input_fails_before_torch_is_imported(warm_cache, argv, message):
    d, _ = warm_cache
    p = py(f"import sys\nfrom dcl.cli import main\ncode = main({argv!r})\nassert code == 2, code\n" + NO_TORCH, d)
    assert p.returncode == 0, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr
