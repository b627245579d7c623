"""Quick runs are honest: every method honours --limit-train-batches (CaFo fits on the batches it
was given, with its steps cut in proportion), no loop of over a minute runs silently, and a
method with a network of its own trains on it when no --arch is given, and says so."""
from __future__ import annotations

import pytest

import dcl
from dcl.cli import main
from dcl.config import catalog
from dcl.methods import METHODS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from dataformats import write_idx_dataset
    root = tmp_path_factory.mktemp("quick")
    write_idx_dataset(root / "mnist", n_train=64, n_test=32)
    return root


# ------------------------------------------------------------------ a method's own network
@pytest.mark.parametrize("method, arch, preset", [("drtp", "drtp-fc", "drtp-drtp-fc-mnist"),
                                                  ("cafo", "cafo", "cafo-cafo-mnist"), ("pff", "pff", "pff-pff-mnist"),
                                                  ("dcl", "fc", "fc-mnist"), ("ff", "fc", "ff-fc-mnist")])
def test_a_method_with_its_own_network_trains_on_it_without_arch(method, arch, preset):
    cfg = dcl.resolve_config(data="mnist", method=method)
    assert (cfg.arch, cfg.preset) == (arch, preset)
    assert dcl.resolve_config(data="mnist", method=method, arch="fc").arch == "fc"  # --arch still decides


def test_own_arch_is_a_class_attribute_the_catalog_caches():
    declared = {name: getattr(METHODS.get(name), "own_arch", None) for name in METHODS.names()}
    assert {m: a for m, a in declared.items() if a} == {"drtp": "drtp-fc", "cafo": "cafo", "pff": "pff"}
    for method, arch in declared.items():
        assert catalog.own_arch(method) == arch
        assert arch is None or arch in catalog.names("archs")


def test_the_catalog_answers_own_arch_without_torch(tmp_path):
    """A fresh process, the cache written by a first one: --method drtp resolves without torch."""
    import os
    import subprocess
    import sys
    code = ("import sys, dcl; c = dcl.resolve_config(data='mnist', method='drtp'); "
            "print(c.arch, 'torch' in sys.modules)")
    env = {**os.environ, "DCL_CACHE_DIR": str(tmp_path / "cache")}
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
            for _ in range(2)]
    assert outs[0].returncode == 0, outs[0].stderr
    assert outs[1].stdout.split() == ["drtp-fc", "False"]


def test_dcl_train_says_it_trains_the_methods_own_network(tiny, tmp_path, capsys):
    code = main(["train", "--data", "mnist", "--method", "drtp", "--data-dir", str(tiny), "--epochs", "1",
                 "--batch-size", "16", "--limit-train-batches", "2", "--set", "width=32", "--no-progress",
                 "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].startswith("dcl train: drtp-fc (drtp's own network) on mnist with drtp")
    assert dcl.load(tmp_path / "run").cfg.arch == "drtp-fc"


# ------------------------------------------------------------------ CaFo honours the quick-run flags
def test_cafo_fits_on_the_batches_it_was_given_with_steps_in_proportion(tiny, tmp_path, capsys):
    """--limit-train-batches 1 of 4 batches: the fit sees 16 images and takes 1250 of 5000 steps."""
    seen = []
    from dcl.methods.cafo import CaFo
    fit = CaFo.fit

    def spy(self):
        seen.append(sum(int(x.shape[0]) for x, _ in self.pending))
        return fit(self)

    CaFo.fit = spy
    try:
        code = main(["train", "--data", "mnist", "--method", "cafo", "--data-dir", str(tiny), "--batch-size", "16",
                     "--limit-train-batches", "1", "--set", "channels=2,4,8", "--no-progress",
                     "--out", str(tmp_path / "run")])
    finally:
        CaFo.fit = fit
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert seen == [16]
    assert captured.out.splitlines()[0].startswith("dcl train: cafo (cafo's own network) on mnist with cafo")
    assert "each predictor takes 1250 of its 5000 full-batch steps" in captured.err
    assert len([line for line in captured.err.splitlines() if "note:" in line]) == 1


def test_cafo_without_a_limit_takes_all_its_steps():
    from dcl.methods.cafo import CaFo
    method = CaFo.__new__(CaFo)
    method.cfg = dcl.resolve_config(data="mnist", method="cafo", cafo_steps=40)
    assert method.fit_steps() == 40
    method.epoch_share = 0.01
    with pytest.warns(dcl.errors.DCLNote, match="takes 1 of its 40"):
        assert method.fit_steps() == 1


# ------------------------------------------------------------------ no silent loop of over a minute
def test_an_epoch_without_a_bar_logs_its_progress(tiny, monkeypatch):
    """Every EVERY seconds (a minute; 0 here) a line: the step, the share, the time left."""
    from dcl import progress
    monkeypatch.setattr(progress, "EVERY", 0.0)
    lines = []
    cfg = dcl.resolve_config(arch="fc", data="mnist", epochs=1, batch_size=16, width=32, limit_train_batches=3)
    dcl.train(cfg, data_dir=tiny, log=lines.append, progress=False)
    steps = [line for line in lines if line.startswith("epoch 1/1, step:")]
    assert [s.split(":")[1].split("(")[0].strip() for s in steps] == ["1/3", "2/3", "3/3"]
    assert "s left" in steps[0]


def test_progress_lines_and_bars():
    from dcl import progress
    got = []
    assert list(progress.progress(range(3), "loop", bar=False, log=got.append)) == [0, 1, 2]
    assert got == []  # under a minute: silent
    lines = progress.Lines("fit", 10, got.append, every=0.0)
    lines.tick(5)
    assert got[0].startswith("fit: 5/10 (50 %)")
    assert list(progress.progress(range(3), "loop", bar=True)) == [0, 1, 2]


# ------------------------------------------------------------------ a quick evaluation
def test_limit_test_batches_caps_every_evaluation(tiny, tmp_path):
    """--limit-test-batches N: the test (and validation) passes read N batches of eval_batch_size."""
    from dcl.engine.callbacks import Callback

    class Grab(Callback):
        def on_train_start(self, run):
            self.run = run

    grab = Grab()
    cfg = dcl.resolve_config(arch="fc", data="mnist", method="dcl", epochs=1, batch_size=16, width=64, segments=4,
                             limit_train_batches=2, limit_test_batches=1, eval_batch_size=8, val_split=16,
                             tensorboard=False)
    s = dcl.train(cfg, tmp_path / "run", data_dir=tiny, log=None, callbacks=[grab])
    assert len(grab.run.eval_loader("test")) == 1 and len(grab.run.eval_loader("val")) == 1
    assert (s["test_error"] * 8 / 100) == pytest.approx(round(s["test_error"] * 8 / 100))  # errors of 8 images
    assert main(["train", "--arch", "fc", "--data", "mnist", "--data-dir", str(tiny), "--epochs", "1",
                 "--set", "width=64", "--set", "segments=4", "--batch-size", "16", "--limit-train-batches", "1",
                 "--limit-test-batches", "1", "--set", "eval_batch_size=4", "--set", "tensorboard=false",
                 "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    assert dcl.TrainConfig.from_dict(__import__("json").loads((tmp_path / "cli" / "summary.json").read_text())
                                     ["config"]).limit_test_batches == 1
    assert main(["train", "--arch", "fc", "--data", "mnist", "--limit-test-batches", "0", "--out",
                 str(tmp_path / "bad")]) == 2
