"""Every bad input is one line: a table of user mistakes, through the command line and the API.

Each CLI case must end with exit status 2, exactly one line on stderr that names the bad value
(or the bad file), and no traceback; each API case must raise :class:`dcl.errors.DCLError` with
a one-line message naming the bad value. The cases cover every class of issue 17: overrides
that collide with named arguments, values out of range or not finite, flags that would be
silently ignored, output folders, checkpoints that do not fit, bad data files and archives,
download URLs, and the Python API. The data-loss cases (two writers, a kill during a write, a
full disk, read-only folders) are in test_data_loss.py; the bounded downloads and archives
against a local HTTP server in test_bounds.py.

How the CLI cases run (start-up costs 1-2 s of CPU per process for the torch import, on a
shared 2-core machine): every case runs in-process through ``dcl.cli.main(argv)`` (the entry
point of the ``dcl`` script, minus the interpreter start-up), and a representative subset
(``SUB``, one or more per class) also runs as a real ``python -m dcl`` subprocess, four at a
time, started together at the first such test, so that the real exit status and the real
stderr (warnings included) are checked too. The training cases use a tiny generated MNIST
(64 + 32 images) so that each takes well under a second.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import dcl
import dcl.engine.checkpoint
import dcl.data.download
import dcl.losses
from badinputs import (bp_method, checkpoint_variants, cifar_case, dcl_method, duplicate_archive, features, garbage,
                       idx_case, idx_overflow, local_net, make_tiny_run, stl10_oversized, tmpdir)
from dcl.cli import main
from servers import DRIP_SECONDS, misbehaving_servers
from dcl.errors import DCLError

TR = ("train --arch fc --data mnist --data-dir {data} --epochs 1 --limit-train-batches 2 --batch-size 16 "
      "--set width=32 --no-progress")

# (id, command line with {placeholders}, what stderr must name). Placeholders: {data} tiny
# MNIST, {run} a finished run, {ck/NAME} a damaged checkpoint, {idx/KIND}/{cifar/KIND} a
# data dir with one bad file (and {file} that file), {tmp} a fresh folder, {afile} a file.
CLI: list[tuple[str, str, str]] = [
    # --- overrides colliding with named arguments; a field given twice
    ("set-arch", "train --data mnist --set arch=foo", "'foo'"),
    ("set-data", "train --data mnist --set data=foo", "data=foo"),
    ("set-preset", "train --data mnist --set preset=foo", "'foo'"),
    ("describe-set-arch", "describe --arch fc --set arch=conv", "arch=conv"),
    ("describe-set-method", "describe --arch fc --method dcl --set method=bp", "method=bp"),
    ("set-epochs-twice", TR + " --set epochs=3", "epochs=3"),
    ("set-method-twice", TR + " --method dcl --set method=bp", "method=bp"),
    ("set-lr-twice", "train --set lr=1e-3 --set lr=2e-3", "lr=2e-3"),
    ("bench-set-batch", "bench --arch fc --data mnist --batch-size 8 --set batch_size=4", "batch_size=4"),
    ("bench-set-method", "bench --arch fc --data mnist --batch-size 8 --set method=bp", "method=bp"),
    ("set-empty-key", "train --set =3", "'=3'"),
    ("set-no-equals", "train --set lr", "'lr'"),
    ("set-unknown", "train --set bogus=1", "'bogus'"),
    # --- values: ranges and finiteness, one table (config_rules.RULES)
    ("lr-inf", TR + " --lr inf", "inf"),
    ("lr-huge", TR + " --lr 1e30", "1e+30"),
    ("lr-nan", TR + " --lr nan", "nan"),
    ("lr-negative", TR + " --lr -1", "-1.0"),
    ("lr-zero", TR + " --lr 0", "0.0"),
    ("lr-text", TR + " --set lr=fast", "'fast'"),
    ("temperature-inf", TR + " --set temperature=inf", "inf"),
    ("temperature-zero", TR + " --set temperature=0", "0.0"),
    ("temperature-text", TR + " --set temperature=abc", "'abc'"),
    ("dict-norm-inf", TR + " --method dcl-s --dict-norm inf", "inf"),
    ("dict-norm-negative", TR + " --method dcl-s --dict-norm -3", "-3.0"),
    ("milestones-negative", TR + " --set milestones=-5,2", "-5,2"),
    ("milestones-decreasing", TR + " --set milestones=20,10", "20,10"),
    ("milestones-text", TR + " --set milestones=a,b", "'a'"),
    ("weight-decay-nan", TR + " --set weight_decay=nan", "nan"),
    ("weight-decay-negative", TR + " --set weight_decay=-0.1", "-0.1"),
    ("betas-one", TR + " --set betas=0.9", "0.9"),
    ("betas-big", TR + " --set betas=2,3", "2,3"),
    ("betas-nan", TR + " --set betas=0.9,nan", "0.9,nan"),
    ("sgd-momentum-zero", TR + " --set optimizer=sgd --set momentum=0", "got 0"),
    ("momentum-one", TR + " --set optimizer=sgd --set momentum=1", "1.0"),
    ("seed-64bit", TR + " --seed 99999999999999999999999", "99999999999999999999999"),
    ("seed-negative", TR + " --seed -1", "-1"),
    ("device-cpux", TR + " --device cpux", "'cpux'"),
    ("device-index", TR + " --device cuda:x", "'cuda:x'"),
    ("device-no-cuda", TR + " --device cuda:0", "'cuda:0'"),
    ("vgg-batch-1", "train --arch vgg8b --data mnist --data-dir {data} --epochs 1 --batch-size 1 --no-progress",
     "got 1"),
    ("batch-zero", TR.replace("--batch-size 16", "--batch-size 0"), "got 0"),
    ("batch-negative", TR.replace("--batch-size 16", "--batch-size -5"), "-5"),
    ("epochs-zero", TR.replace("--epochs 1", "--epochs 0"), "got 0"),
    ("epochs-text", TR.replace("--epochs 1", "--epochs three"), "'three'"),
    ("dropout-one", TR + " --set dropout=1", "1.0"),
    ("dropout-negative", TR + " --set dropout=-0.1", "-0.1"),
    ("gamma-zero", TR + " --set gamma=0", "0.0"),
    ("gamma-two", TR + " --set gamma=2", "2.0"),
    ("width-zero", TR.replace("width=32", "width=0"), "got 0"),
    ("width-fraction", TR.replace("width=32", "width=1.5"), "'1.5'"),
    ("segments-zero", TR + " --set segments=0", "got 0"),
    ("segments-no-divisor", TR + " --set segments=3", "K=3"),
    ("channels-empty", "train --arch conv --data mnist --set channels=", "(empty)"),
    ("channels-negative", "train --arch conv --data mnist --set channels=64,-2", "64,-2"),
    ("dict-dim-zero", TR + " --set dict_dim=0", "got 0"),
    ("eval-batch-zero", TR + " --set eval_batch_size=0", "got 0"),
    ("val-split-negative", TR + " --val-split -1", "-1"),
    ("val-split-too-big", TR + " --val-split 999999", "999999"),
    ("limit-zero", TR.replace("--limit-train-batches 2", "--limit-train-batches 0"), "got 0"),
    ("similarity", TR + " --set similarity=l2", "'l2'"),
    ("optimizer", TR + " --set optimizer=adamm", "'adamm'"),
    ("schedule", TR + " --set schedule=linear", "'linear'"),
    ("activation", TR + " --set activation=swish", "'swish'"),
    ("dropout-kind", "train --arch conv --data mnist --set dropout_kind=spatial", "'spatial'"),
    ("dict-init", TR + " --dict-init uniform", "'uniform'"),
    ("adapter", TR + " --set adapter=mlp", "'mlp'"),
    ("dict-update", TR + " --set dict_update=never", "'never'"),
    ("augment", TR + " --set augment=maybe", "'maybe'"),
    ("nesterov", TR + " --set nesterov=2", "'2'"),
    ("eval-p-nan", "eval --data-dir {data} {run} --predict ensemble --p nan", "nan"),
    # --- flags that would be silently ignored: refused
    ("dict-norm-bp", TR + " --method bp --dict-norm 5", "dict_norm=5.0"),
    ("dict-dim-bp", TR + " --method bp --set dict_dim=256", "dict_dim=256"),
    ("dict-dim-dcl-ld", TR + " --method dcl-ld --set dict_dim=256", "dict_dim=256"),
    ("momentum-adamw", TR + " --set momentum=0.5", "momentum=0.5"),
    ("betas-sgd", TR + " --set optimizer=sgd --set betas=0.8,0.9", "betas=0.8,0.9"),
    ("milestones-cosine", TR + " --set schedule=cosine --set milestones=5,10", "milestones=5,10"),
    ("width-conv", "train --arch conv --data mnist --data-dir {data} --set width=64", "width=64"),
    ("channels-fc", TR + " --set channels=8,16", "channels=8,16"),
    ("ff-threshold-dcl", TR + " --set ff_threshold=3", "only method ff, symba read it"),
    ("aux-dim-ll-sim", TR + " --method ll-sim --set aux_dim=64", "aux_dim=64"),
    ("drtp-activation-fc", TR + " --method drtp --set drtp_activation=relu", "only arch drtp-fc, drtp-conv"),
    ("temperature-feat", TR + " --method feat --set temperature=0.5", "temperature=0.5"),
    # --- a loss that stops being a number: stopped, named by epoch, step and block
    ("nan-dict-norm", TR + " --method dcl-s --dict-norm 1e38 --out {tmp}/run", "epoch 1, step 1 (block 1)"),
    ("nan-temperature", TR + " --set temperature=1e-38 --out {tmp}/run", "epoch 1, step 1"),
    # --- output folders
    ("out-file", TR + " --out {afile}", "{afile}"),
    ("out-inside-file", TR + " --out {afile}/run", "{afile}"),
    ("out-empty", TR + " --out ''", "--out is empty"),
    ("out-locked", TR + " --out {locked}", f"pid {os.getpid()}"),
    ("resume-no-out", TR + " --resume", "--out"),
    ("resume-no-checkpoint", TR + " --resume --out {tmp}/none", "{tmp}/none/checkpoint.pt"),
    ("no-train-batch", TR + " --val-split 63", "1 sample(s)"),
    # --- checkpoints that do not fit their config, or are damaged
    ("eval-width", "eval --data-dir {data} {ck/width}", "blocks.0.1.weight"),
    ("eval-arch", "eval --data-dir {data} {ck/arch}", "arch conv"),
    ("eval-method", "eval --data-dir {data} {ck/method}", "dictionary.weight"),
    ("eval-no-config", "eval --data-dir {data} {ck/noconfig}", "no config"),
    ("eval-newer", "eval --data-dir {data} {ck/newer}", "format 7"),
    ("eval-bad-config", "eval --data-dir {data} {ck/badconfig}", "inf"),
    ("eval-refused-global", "eval --data-dir {data} {ck/evil}", "posix.system"),
    ("eval-garbage", "eval --data-dir {data} {ck/garbage}", "{ck/garbage}"),
    ("eval-truncated", "eval --data-dir {data} {ck/truncated}", "{ck/truncated}"),
    ("eval-missing", "eval --data-dir {data} {tmp}/nothing", "{tmp}/nothing"),
    ("eval-device", "eval --data-dir {data} {run} --device cpux", "'cpux'"),
    ("resume-width", "train --out {ckdir/width} --resume --epochs 2 --data-dir {data} --no-progress",
     "blocks.0.1.weight"),
    ("resume-no-rng", "train --out {ckdir/norng} --resume --epochs 2 --data-dir {data} --no-progress", "'rng'"),
    ("resume-optimizer", "train --out {ckdir/optimizer} --resume --epochs 2 --data-dir {data} --no-progress",
     "optimizer state"),
    # --- data files
    ("idx-gzip-body", "train --data mnist --data-dir {idx/gzip-body} --epochs 1", "{file}"),
    ("idx-dims-overflow", "train --data mnist --data-dir {idx/dims-overflow} --epochs 1", "{file}"),
    ("idx-zero-images", "train --data mnist --data-dir {idx/zero-images} --epochs 1", "holds no images"),
    ("idx-label-range", "train --data mnist --data-dir {idx/label-range} --epochs 1", "{file}"),
    ("idx-label-count", "train --data mnist --data-dir {idx/label-count} --epochs 1", "{file}"),
    ("idx-magic", "train --data mnist --data-dir {idx/magic} --epochs 1", "{file}"),
    ("idx-truncated", "train --data mnist --data-dir {idx/truncated} --epochs 1", "{file}"),
    ("cifar-pickle-bomb", "train --data cifar10 --data-dir {cifar/pickle-bomb} --epochs 1", "{file}"),
    ("cifar-pickle-global", "train --data cifar10 --data-dir {cifar/pickle-global} --epochs 1", "posix.system"),
    ("cifar-duplicate-member", "train --data cifar10 --data-dir {cifar/duplicate-member} --epochs 1",
     "appears twice"),
    ("cifar-archive-bomb", "train --data cifar10 --data-dir {cifar/archive-bomb} --epochs 1", "3,221,225,472"),
    ("stl10-oversized", "train --data stl10 --arch vgg8b --data-dir {stl10} --epochs 1", "{file}"),
    ("data-missing", "train --data mnist --data-dir {tmp}/empty --epochs 1", "{tmp}/empty"),
    ("data-info-unknown", "data info bogus", "'bogus'"),
    # --- downloads: bad mirrors
    ("mirror-word", "data fetch kmnist --data-dir {tmp} --mirror foo --no-progress", "'foo'"),
    ("mirror-ipv6", "data fetch kmnist --data-dir {tmp} --mirror http://[::1 --no-progress", "http://[::1"),
    ("mirror-ftp", "data fetch kmnist --data-dir {tmp} --mirror ftp://127.0.0.1/x --no-progress", "ftp://127.0.0.1/x"),
    ("mirror-port", "data fetch kmnist --data-dir {tmp} --mirror http://host:port/ --no-progress", "host:port"),
    ("fetch-unknown", "data fetch imagenet", "'imagenet'"),
    # --- downloads: servers on 127.0.0.1 that drip, loop or do not speak HTTP; archives that are not
    ("fetch-drip-deadline", "data fetch kmnist --data-dir {tmp} --mirror {http}/drip --deadline 3 --no-progress",
     "deadline of 3 s"),
    ("fetch-deadline-text", "data fetch kmnist --data-dir {tmp} --deadline soon", "'soon'"),
    ("fetch-redirect-loop", "data fetch kmnist --data-dir {tmp} --mirror {http}/loop --no-progress",
     "redirects in a loop"),
    ("fetch-not-http", "data fetch kmnist --data-dir {tmp} --mirror {nothttp} --no-progress",
     "does not answer HTTP"),
    ("cifar-not-tar", "train --data cifar10 --data-dir {cifar/not-tar} --epochs 1", "is not a tar archive"),
    ("bench-methods-empty", "bench --arch fc --data mnist --batch-size 8 --methods ''", "names no method"),
]

#: the cases that also run as real subprocesses (at least one per class)
SUB = {"set-arch", "set-epochs-twice", "lr-inf", "betas-one", "seed-64bit", "device-cpux", "vgg-batch-1",
       "dict-norm-bp", "nan-dict-norm", "out-file", "out-empty", "eval-width", "eval-no-config",
       "eval-refused-global", "resume-width", "idx-gzip-body", "idx-dims-overflow", "idx-label-range",
       "cifar-pickle-bomb", "cifar-archive-bomb", "mirror-ftp", "fetch-drip-deadline", "fetch-not-http",
       "cifar-not-tar", "bench-methods-empty"}


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Paths the placeholders stand for (built once; each bad thing in its own folder), and
    the misbehaving servers on 127.0.0.1 (tests/servers.py)."""
    root = tmp_path_factory.mktemp("bad")
    tiny, run = make_tiny_run(root)
    afile = root / "afile"
    afile.write_text("not a folder\n")
    ckpts = checkpoint_variants(run, root / "ckpt")
    with misbehaving_servers() as (http, nothttp):
        yield {"root": root, "data": tiny, "run": run, "afile": afile, "ckpts": ckpts, "http": http,
               "nothttp": nothttp}


class Expand(dict):
    """``str.format_map`` mapping that builds each placeholder's thing on first use."""

    def __init__(self, env, tmp: Path):
        super().__init__(data=env["data"], run=env["run"], afile=env["afile"], tmp=tmp, http=env["http"],
                         nothttp=env["nothttp"])
        self.env, self.tmp = env, tmp

    def __missing__(self, key: str):
        kind, _, arg = key.partition("/")
        if kind == "ck":
            return self.env["ckpts"][arg]
        if kind == "ckdir":
            return self.env["ckpts"][arg].parent
        if kind in ("idx", "cifar", "stl10"):
            dest = self.tmp / f"{kind}-{arg}"
            folder, self["file"] = (idx_case(self.env["data"], dest, arg) if kind == "idx" else
                                    cifar_case(dest, arg) if kind == "cifar" else stl10_oversized(dest))
            return folder
        if kind == "locked":
            return self.tmp / "locked"
        raise KeyError(key)


def expand(env, tmp: Path, command: str, needle: str) -> tuple[list[str], str]:
    m = Expand(env, tmp)
    argv = shlex.split(command.format_map(m))
    return argv, needle.format_map(m)


def check_one_line(code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, f"exit status {code}, stderr: {err!r}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {err!r}"
    assert lines[0].startswith("dcl"), lines[0]
    assert needle in lines[0], f"{needle!r} not named in {lines[0]!r}"
    assert "Traceback" not in err


# ------------------------------------------------------------------------------ CLI cases
@pytest.mark.parametrize("case, command, needle", CLI, ids=[c[0] for c in CLI])
def test_cli_case_in_process(case, command, needle, env, tmp_path, capsys):
    argv, needle = expand(env, tmp_path, command, needle)
    if case == "out-locked":
        from dcl.engine.lock import hold_run_folder
        with hold_run_folder(tmp_path / "locked"):
            code = main(argv)
    else:
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own one-line errors
            code = e.code
    check_one_line(code, capsys.readouterr().err, needle)


@pytest.fixture(scope="module")
def subprocess_results(env, tmp_path_factory):
    """Start every SUB case as ``python -m dcl ...`` (4 at a time); id -> (code, stderr, needle)."""
    base = tmp_path_factory.mktemp("sub")
    jobs = {}
    for case, command, needle in CLI:
        if case in SUB:
            tmp = base / case
            tmp.mkdir()
            jobs[case] = expand(env, tmp, command, needle)
    envvars = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}

    def run(item):
        case, (argv, needle) = item
        p = subprocess.run([sys.executable, "-m", "dcl", *argv], capture_output=True, text=True, timeout=300,
                           env=envvars)
        return case, (p.returncode, p.stderr, needle)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, jobs.items()))


@pytest.mark.parametrize("case", sorted(SUB))
def test_cli_case_real_process(case, subprocess_results):
    code, err, needle = subprocess_results[case]
    check_one_line(code, err, needle)


def test_a_dripping_server_is_cut_at_the_deadline(env, tmp_path, capsys):
    """One byte every DRIP_SECONDS, each read well within the per-read timeout: only the total
    deadline stops it, within that deadline plus a little."""
    t0 = time.monotonic()
    code = main(["data", "fetch", "kmnist", "--data-dir", str(tmp_path), "--mirror", env["http"] + "/drip",
                 "--deadline", "3", "--no-progress"])
    seconds = time.monotonic() - t0
    check_one_line(code, capsys.readouterr().err, "did not finish within its deadline of 3 s")
    assert seconds < 3 + DRIP_SECONDS + 5, seconds


def test_the_deadline_comes_from_the_environment(env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DCL_DOWNLOAD_DEADLINE", "1.5")
    code = main(["data", "fetch", "kmnist", "--data-dir", str(tmp_path), "--mirror", env["http"] + "/drip",
                 "--no-progress"])
    check_one_line(code, capsys.readouterr().err, "deadline of 1.5 s")
    monkeypatch.setenv("DCL_DOWNLOAD_DEADLINE", "-1")
    with pytest.raises(DCLError, match="DCL_DOWNLOAD_DEADLINE must be a positive number of seconds, got '-1'"):
        dcl.data.download.fetch_dataset("kmnist", tmp_path / "other")


def test_without_a_deadline_a_drip_is_cut_after_the_base_time(env, tmp_path, monkeypatch):
    """The default: BASE_DEADLINE (2 minutes; 2 s here) plus the bytes received at 50 KiB/s."""
    from dcl.data import http_download
    monkeypatch.setattr(http_download, "BASE_DEADLINE", 2.0)
    monkeypatch.delenv("DCL_DOWNLOAD_DEADLINE", raising=False)
    t0 = time.monotonic()
    with pytest.raises(DCLError, match=r"did not finish within its deadline of 2 s \(2 minutes plus") as e:
        http_download.download_file(env["http"] + "/drip/x", tmp_path / "x", "0" * 32, 1 << 20)
    assert "\n" not in str(e.value) and time.monotonic() - t0 < 2 + DRIP_SECONDS + 5


def test_every_class_has_a_subprocess_case():
    ids = {c[0] for c in CLI}
    assert SUB <= ids and len(SUB) >= 20


# ------------------------------------------------------------------------------ API cases
X, Y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
D = torch.randn(10, 8)

# (id, call, what the message must name)
API = [
    ("dict-loss-label-high", lambda: dcl.losses.dict_loss(features(), torch.tensor([0, 1, 2, 10]), D), "found 10"),
    ("dict-loss-label-negative", lambda: dcl.losses.dict_loss(features(), torch.tensor([0, -1, 2, 3]), D),
     "found -1"),
    ("dict-loss-label-float", lambda: dcl.losses.dict_loss(features(), torch.tensor([0.0, 1, 2, 3]), D),
     "torch.float32"),
    ("dict-loss-label-shape", lambda: dcl.losses.dict_loss(features(), torch.tensor([0, 1]), D), "(2,)"),
    ("dict-loss-one-row", lambda: dcl.losses.dict_loss(features(), torch.tensor([0, 0, 0, 0]), torch.randn(1, 8)),
     "(1, 8)"),
    ("dict-loss-float64", lambda: dcl.losses.dict_loss(features(dtype=torch.float64), Y, D), "torch.float64"),
    ("dict-loss-numpy", lambda: dcl.losses.dict_loss(np.zeros((4, 8), np.float32), Y, D), "numpy.ndarray"),
    ("dict-loss-list-labels", lambda: dcl.losses.dict_loss(features(), [0, 1, 2, 3], D), "list"),
    ("dict-logits-numpy-dict", lambda: dcl.losses.dict_logits(features(), np.zeros((10, 8))), "numpy.ndarray"),
    ("dict-logits-segments", lambda: dcl.losses.dict_logits(features(), D, segments=1.5), "1.5"),
    ("dcl-loss-str-classes", lambda: dcl.DictionaryContrastiveLoss("10", 64), "'10' (str)"),
    ("dcl-loss-float-dim", lambda: dcl.DictionaryContrastiveLoss(10, 64.5), "64.5"),
    ("dcl-loss-one-class", lambda: dcl.DictionaryContrastiveLoss(1, 64), "got 1"),
    ("dcl-loss-nan-temperature", lambda: dcl.DictionaryContrastiveLoss(10, 8, temperature=float("nan")), "nan"),
    ("dcl-loss-inf-norm", lambda: dcl.DictionaryContrastiveLoss(10, 8, norm=float("inf")), "inf"),
    ("dcl-loss-labels", lambda: dcl.DictionaryContrastiveLoss(10, 8)(features(), torch.tensor([0, 1, 2, 11])),
     "found 11"),
    ("dcl-loss-numpy", lambda: dcl.DictionaryContrastiveLoss(10, 8)(np.zeros((4, 8), np.float32), Y),
     "numpy.ndarray"),
    ("config-lr-text", lambda: dcl.TrainConfig(lr="abc"), "'abc' (str)"),
    ("config-epochs-text", lambda: dcl.TrainConfig(epochs="2"), "'2' (str)"),
    ("config-epochs-float", lambda: dcl.TrainConfig(epochs=2.5), "2.5"),
    ("config-epochs-bool", lambda: dcl.TrainConfig(epochs=True), "True"),
    ("config-betas-one", lambda: dcl.TrainConfig(betas=(0.9,)), "0.9"),
    ("config-milestones", lambda: dcl.TrainConfig(milestones=[30, 10]), "30,10"),
    ("config-seed", lambda: dcl.TrainConfig(seed=-1), "-1"),
    ("config-device", lambda: dcl.TrainConfig(device="gpu"), "'gpu'"),
    ("config-dropout-nan", lambda: dcl.TrainConfig(dropout=float("nan")), "nan"),
    ("config-channels-str", lambda: dcl.TrainConfig(channels="64"), "'64'"),
    ("config-augment-str", lambda: dcl.TrainConfig(augment="yes"), "'yes'"),
    ("config-replace", lambda: dcl.TrainConfig().replace(lr=float("inf")), "inf"),
    ("config-from-dict", lambda: dcl.TrainConfig.from_dict({"lr": "abc"}), "'abc'"),
    ("config-both-norms", lambda: dcl.TrainConfig(dict_norm=2.0, dict_norm_from="x.pt"), "x.pt"),
    ("resolve-lr-inf", lambda: dcl.resolve_config(arch="fc", data="mnist", lr=float("inf")), "inf"),
    ("resolve-unknown-field", lambda: dcl.resolve_config(arch="fc", data="mnist", lrr=1e-3), "'lrr'"),
    ("train-not-config", lambda: dcl.train({"lr": 1e-3}), "dict"),
    ("train-ignored-field", lambda: dcl.train(dcl.TrainConfig(method="bp", dict_norm=3.0)), "dict_norm=3.0"),
    ("step-wrong-shape", lambda: bp_method().train_step(torch.randn(4, 3, 32, 32), Y), "(4, 3, 32, 32)"),
    ("step-labels-range", lambda: bp_method().train_step(X, torch.tensor([0, 1, 2, 10])), "found 10"),
    ("step-labels-count", lambda: bp_method().train_step(X, torch.tensor([0, 1])), "(2,)"),
    ("step-float64", lambda: bp_method().train_step(X.double(), Y), "torch.float64"),
    ("step-numpy", lambda: bp_method().train_step(X.numpy(), Y), "numpy.ndarray"),
    ("step-int-input", lambda: bp_method().train_step(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), Y),
     "torch.uint8"),
    ("step-dcl-labels", lambda: dcl_method().train_step(X, torch.tensor([0, 1, 2, 99])), "found 99"),
    ("make-local-fraction", lambda: local_net(split_after=[1.7]), "1.7"),
    ("make-local-str", lambda: local_net(split_after="2"), "'2'"),
    ("make-local-in-shape", lambda: local_net(in_shape=(1, 28.5, 28)), "28.5"),
    ("make-local-segments", lambda: local_net(segments=[2.5]), "2.5"),
    ("read-idx-overflow", lambda: idx_overflow(), "4294967295"),
    ("archive-duplicate", lambda: duplicate_archive(), "appears twice"),
    ("load-checkpoint-garbage", lambda: dcl.engine.checkpoint.load_checkpoint(garbage()), "garbage.pt"),
    ("download-ftp", lambda: dcl.data.download.download_file("ftp://127.0.0.1/x", tmpdir() / "x", "0" * 32),
     "ftp://127.0.0.1/x"),
]


@pytest.mark.parametrize("case, call, needle", API, ids=[a[0] for a in API])
def test_api_case(case, call, needle):
    with pytest.raises(DCLError) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg, msg
    assert needle in msg, f"{needle!r} not named in {msg!r}"


def test_the_table_is_large_enough():
    assert len(CLI) + len(API) >= 100


def test_every_config_field_has_a_rule():
    """A new shared TrainConfig field needs its range in dcl.config.rules.RULES (one place); a
    method's or network's own field carries its rule in its Option, and a declaration whose
    default breaks its own rule is refused when it is registered."""
    from dataclasses import fields

    from dcl.config import Option
    from dcl.config.field_rules import RULES
    from dcl.config.rules import integer
    from dcl.registry import Registry
    missing = [f.name for f in fields(dcl.TrainConfig) if f.name != "options" and f.name not in RULES]
    assert not missing, f"add a rule to dcl.config.rules.RULES for: {', '.join(missing)}"
    with pytest.raises(DCLError, match="method m: the default of option 'k' is not allowed: k must be an integer in"):
        Registry("method").register("m", object(), options=(Option("k", int, 0, integer(1, 9)),))
    with pytest.raises(DCLError, match="option 'k' is declared twice"):
        Registry("method").register("m", object(), options=(Option("k", int, 1, integer(1, 9)),) * 2)


def test_loss_guard_reads_one_step_late_on_an_accelerator():
    """On a CUDA device the flag of step t is read after step t+1 is queued; flush reads the last."""
    from dcl.engine.lossguard import FiniteLossGuard, NonFiniteLoss
    nan = float("nan")
    guard = FiniteLossGuard(torch.device("cuda"))  # only the device type matters here
    guard.check({"loss": torch.tensor(1.0), "block_losses": torch.tensor([1.0, 1.0])}, 1, 1)
    guard.check({"loss": torch.tensor(1.0), "block_losses": torch.tensor([1.0, nan])}, 1, 2)  # not read yet
    with pytest.raises(NonFiniteLoss, match=r"nan at epoch 1, step 2 \(block 2\)"):
        guard.check({"loss": torch.tensor(1.0), "block_losses": torch.tensor([1.0, 1.0])}, 1, 3)
    guard = FiniteLossGuard(torch.device("cuda"))
    guard.check({"loss": torch.tensor(float("inf"))}, 4, 9)
    with pytest.raises(NonFiniteLoss, match=r"inf at epoch 4, step 9 \(the network's loss\)"):
        guard.flush()
    cpu = FiniteLossGuard(torch.device("cpu"))
    with pytest.raises(NonFiniteLoss, match=r"step 1 \(the head\)"):
        cpu.check({"loss": torch.tensor(nan), "block_losses": torch.tensor([1.0, 1.0])}, 1, 1)
