"""A method written outside the package (examples/local_ce.py, copied to a temporary folder)
trains from Python and from the command line with a field of its own, shows in `dcl list`,
resumes, evaluates and predicts like a built-in one; an installed package's entry point in
the group `dcl.methods` is found too."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dcl
from dcl.errors import DCLError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "local_ce.py"
QUICK = dict(arch="fc", data="mnist", method="local-ce", epochs=1, width=64, segments=4, batch_size=64,
             limit_train_batches=4, eval_batch_size=500, tensorboard=False)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """The example, copied outside the repository to ``ROOT/examples/local_ce.py`` (one copy: a
    process registers a name once)."""
    path = tmp_path_factory.mktemp("mine") / "examples" / "local_ce.py"
    path.parent.mkdir()
    shutil.copy(EXAMPLE, path)
    return path


def cli(*argv, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "dcl", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_a_plugin_method_trains_from_python_with_its_own_field(plugin, real_data_dir, tmp_path):
    cfg = dcl.resolve_config(plugins=(str(plugin),), local_ce_smoothing=0.25, **QUICK)
    assert cfg.local_ce_smoothing == 0.25 and cfg.plugins == (str(plugin.resolve()),)
    s = dcl.train(cfg, tmp_path / "run", data_dir=real_data_dir, log=None)
    assert len(s["layer_test_errors"]) == 2 and 0 <= s["test_error"] <= 100
    saved = (tmp_path / "run" / "config.toml").read_text()
    assert "local_ce_smoothing = 0.25" in saved and "local_ce.py" in saved
    with pytest.raises(DCLError, match=r"local_ce_smoothing must be a finite number in \[0, 1\), got 1.5"):
        dcl.resolve_config(plugins=(str(plugin),), local_ce_smoothing=1.5, **QUICK)
    with pytest.raises(DCLError, match="local_ce_smoothing=0.3 has no effect with method dcl"):
        bad = dcl.resolve_config(plugins=(str(plugin),), **{**QUICK, "method": "dcl"}, local_ce_smoothing=0.3)
        dcl.train(bad, None, data_dir=real_data_dir, log=None)


def test_a_plugin_method_from_the_command_line_resumes_evaluates_and_predicts(plugin, real_data_dir, tmp_path):
    env = {"DCL_DATA_DIR": str(real_data_dir), "DCL_CACHE_DIR": str(tmp_path / "cache")}
    sets = [a for k in ("width", "segments", "batch_size", "limit_train_batches", "tensorboard")
            for a in ("--set", f"{k}={QUICK[k]}")]
    base = ["train", "--plugin", str(plugin), "--method", "local-ce", "--arch", "fc", "--data", "mnist", *sets]
    p = cli(*base, "--set", "local_ce_smoothing=0.2", "--epochs", "1", "--out", "run", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    p = cli(*base, "--set", "local_ce_smoothing=2", "--out", "bad", cwd=tmp_path, env=env)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0
    assert "local_ce_smoothing must be a finite number in [0, 1), got 2.0" in p.stderr
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()
    p = cli("list", "methods", "--plugin", str(plugin), cwd=tmp_path, env=env)
    assert p.returncode == 0 and "local-ce" in p.stdout and "label smoothing (example plugin)" in p.stdout
    # the run records its plugin: resume, eval and predict need no --plugin
    p = cli("train", "--out", "run", "--resume", "--epochs", "2", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    p = cli("eval", "run", cwd=tmp_path, env=env)
    assert p.returncode == 0 and "test error (block 2)" in p.stdout, p.stderr
    model = dcl.load(tmp_path / "run")
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    pred = model.predict(images)
    assert pred.classes.shape == (3,) and torch.allclose(pred.probs.sum(1), torch.ones(3))
    assert model.predict(images, mode="block:1").probs.shape == (3, 10)


def test_an_installed_packages_entry_point_registers_its_method(plugin, tmp_path):
    site = tmp_path / "site"
    (site / "mine_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "mine_plugin-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mine-plugin\nVersion: 0.1\n")
    (site / "mine_plugin-0.1.dist-info" / "entry_points.txt").write_text("[dcl.methods]\nlocal-ce = mine_local_ce\n")
    shutil.copy(plugin, site / "mine_local_ce.py")
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "DCL_CACHE_DIR": str(tmp_path / "cache")}
    p = cli("list", "methods", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert "local-ce" in p.stdout
    p = cli("list", "methods", cwd=tmp_path, env={"DCL_CACHE_DIR": str(tmp_path / "cache")})
    assert "local-ce" not in p.stdout  # the cache of the run with the plugin is not taken for one without


def test_a_missing_or_broken_plugin_is_one_line(tmp_path):
    with pytest.raises(DCLError, match="plugin file .*nope.py does not exist"):
        dcl.resolve_config(plugins=(str(tmp_path / "nope.py"),))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(DCLError, match="plugin .*broken.py failed to import: RuntimeError: boom"):
        dcl.resolve_config(plugins=(str(broken),))
    with pytest.raises(DCLError, match="plugin module 'no_such_module_xyz' not found"):
        dcl.resolve_config(plugins=("no_such_module_xyz",))


def test_the_docs_page_shows_the_example_file_and_its_python_block_runs(plugin, real_data_dir, monkeypatch):
    from test_readme import blocks

    page = Path(__file__).resolve().parents[1] / "docs" / "own-method.md"
    code = blocks(page, "python")
    assert code[0] == EXAMPLE.read_text()  # the walk-through's file is the example, word for word
    assert len(code) == 2
    monkeypatch.chdir(plugin.parent.parent)  # where examples/local_ce.py is
    monkeypatch.setenv("DCL_DATA_DIR", str(real_data_dir))
    exec(compile(code[1], "own-method.md#2", "exec"), {})
    assert (plugin.parent.parent / "runs" / "local-ce-py" / "summary.json").is_file()
