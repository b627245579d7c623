"""The analyses (dcl.analysis, dcl analyze): the numbers behind each figure on small real runs."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import dcl
from dcl.analysis import (analyze_confusion, analyze_embeddings, confusion_counts, confusion_rates,
                          estimate_mutual_information, label_embeddings, layer_errors, pair_rates, pearson,
                          saliency_maps)
from dcl.analysis.runs import images
from dcl.predictor import load
from dcl.data.classnames import class_names, superlabel_groups
from dcl.errors import DCLError

from conftest import small_dataset


def _train(tmp, ds, **kw):
    cfg = dcl.resolve_config(arch=kw.pop("arch", "conv"), data=ds.spec.name, epochs=1, batch_size=64,
                             limit_train_batches=6, eval_batch_size=256, **kw)
    dcl.train(cfg, tmp, dataset=ds)
    return load(tmp, dataset=ds)


@pytest.fixture(scope="module")
def small_fmnist(fashion_mnist):
    return small_dataset(fashion_mnist, 512, 256)


@pytest.fixture(scope="module")
def small_data_dir(tmp_path_factory, small_fmnist):
    """A data folder holding that real subset as IDX files (the CLI reads it with --data-dir)."""
    from dataformats import idx_bytes

    root = tmp_path_factory.mktemp("data")
    folder = root / "fashion-mnist"
    folder.mkdir()
    for prefix, split in (("train", small_fmnist.train), ("t10k", small_fmnist.test)):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(split.images[:, 0].numpy()))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(split.labels.numpy()))
    return root


@pytest.fixture(scope="module")
def conv_dir(tmp_path_factory, small_fmnist):
    """A tiny Conv (8, 16 channels) trained 6 steps with DCL on real Fashion-MNIST."""
    folder = tmp_path_factory.mktemp("conv") / "run"
    _train(folder, small_fmnist, method="dcl", channels="8,16")
    return folder


@pytest.fixture(scope="module")
def conv_run(conv_dir, small_fmnist):
    return load(conv_dir, dataset=small_fmnist)


def test_saliency_value_is_the_dot_product_it_claims(conv_run):
    run = conv_run
    s = saliency_maps(run, [3, 7], top=2)
    x, _, _ = images(run, [3, 7])
    net, d = run.net, run.method.dictionary.weight.detach()
    net.eval()
    with torch.no_grad():
        h1 = net.blocks[0](x)                      # (2, 8, 28, 28)
        h2 = net.blocks[1](h1)                     # (2, 16, 14, 14)
        logits2 = run.method.block_logits(1, h2)   # Eq. 2 for block 2
        head = net.head(h2)
    assert torch.equal(s.top_labels, head.softmax(1).topk(2, dim=1).indices)
    for b, h in ((0, h1), (1, h2)):
        c = h.shape[1]
        t = d.view(d.shape[0], c, -1).mean(dim=2)  # pool_l by hand: mean over contiguous groups of C_D/C
        for n, (r, yy, xx) in enumerate([(0, 5, 9), (1, 10, 3)]):
            z = int(s.top_labels[n, r])
            want = float(h[n, :, yy, xx] @ t[z])
            assert s.maps[b][n, r, yy, xx].item() == pytest.approx(want, rel=1e-5, abs=1e-5)
    # the mean of a block's saliency map over its K positions is that block's logit (tau = 1)
    for n in range(2):
        for r in range(2):
            z = int(s.top_labels[n, r])
            assert s.maps[1][n, r].mean().item() == pytest.approx(logits2[n, z].item(), rel=1e-4, abs=1e-5)


def test_saliency_refuses_flat_blocks_and_bad_indices(tmp_path, small_fmnist, conv_run):
    fc = _train(tmp_path / "fc", small_fmnist, arch="fc", width=64, segments=4)
    with pytest.raises(DCLError, match="spatial"):
        saliency_maps(fc, [0])
    with pytest.raises(DCLError, match="out of range"):
        saliency_maps(conv_run, [10 ** 6])
    with pytest.raises(DCLError, match="block 3 out of range"):
        saliency_maps(conv_run, [0], blocks=[3])


def test_tsne_input_is_the_dictionary(conv_run, monkeypatch):
    import sklearn.manifold

    seen = {}

    class Recorder:
        def __init__(self, **kw):
            seen["kw"] = kw

        def fit_transform(self, x):
            seen["x"] = x.copy()
            return x[:, :2]

    monkeypatch.setattr(sklearn.manifold, "TSNE", Recorder)
    a = analyze_embeddings(conv_run)
    d = conv_run.method.dictionary.weight.detach()
    assert torch.equal(torch.from_numpy(seen["x"]).float(), d)
    assert seen["kw"]["perplexity"] < d.shape[0]
    assert torch.allclose(a.similarity, F.normalize(d, dim=1) @ F.normalize(d, dim=1).t())
    assert a.class_names == class_names("fashion-mnist")


def test_real_tsne_and_class_names(conv_run):
    a = analyze_embeddings(conv_run)
    assert a.tsne.shape == (10, 2) and a.groups is None
    groups, names = superlabel_groups("cifar100")
    assert len(groups) == 100 and len(names) == 20 and names[groups[class_names("cifar100").index("chimpanzee")]] \
        == "large omnivores and herbivores"
    assert class_names("fashion-mnist")[9] == "Ankle boot" and class_names("custom", 3) == ("0", "1", "2")


def test_confusion_rates_sum_to_one_per_true_class(conv_run):
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    preds = torch.tensor([0, 1, 2, 1, 1, 0])
    counts = confusion_counts(labels, preds, 3)
    assert counts.tolist() == [[1, 1, 1], [0, 2, 0], [1, 0, 0]]
    rates = confusion_rates(counts)
    assert torch.allclose(rates.sum(1), torch.ones(3, dtype=torch.float64))
    assert pair_rates(rates)[0] == (0, 1, pytest.approx((1 / 3 + 0) / 2))
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(float(torch.corrcoef(torch.tensor([[1., 2, 3], [2, 4, 7]]))[0, 1]))

    a = analyze_confusion(conv_run)
    assert int(a.counts.sum()) == 256
    assert torch.allclose(a.rates.sum(1), torch.ones(10, dtype=torch.float64))
    assert len(a.pairs) == 45 and -1 <= a.r <= 1
    assert a.error == pytest.approx(layer_errors(conv_run).head)


def test_layer_errors_match_the_training_summary(conv_run, conv_dir):
    r = layer_errors(conv_run)
    summary = json.loads((conv_dir / "summary.json").read_text())
    assert r.blocks == pytest.approx(summary["layer_test_errors"])
    assert r.head == pytest.approx(summary["test_error"])


def test_mutual_info_decoder_loss_falls(conv_run):
    said = []
    mi = estimate_mutual_information(conv_run, train_samples=256, test_samples=128, epochs=2, batch_size=32,
                                     log=said.append)
    assert len(said) == 1 and said[0].startswith("mutual-info ") and "2 epochs x 8 steps of 32" in said[0]
    assert mi.layers == ["input", "block 1", "block 2"]
    for losses in mi.decoder_loss:  # mean training BCE of each epoch
        assert len(losses) == 2 and losses[-1] < losses[0]
    for k in range(3):
        assert mi.i_hx[k] == pytest.approx(1 - mi.decoder_loss[k][-1])
        assert mi.i_hy[k] == max(mi.classifier_accuracy[k]) and 0 <= mi.i_hy[k] <= 1
        assert mi.i_hr[k] == pytest.approx(mi.i_hx[k] - mi.i_hy[k] + 1)


def test_label_embeddings_need_a_dictionary(tmp_path, small_fmnist):
    bp = _train(tmp_path / "bp", small_fmnist, arch="fc", method="bp", width=64, segments=4)
    with pytest.raises(DCLError, match="label dictionary"):
        label_embeddings(bp)
    assert layer_errors(bp).blocks == [] and layer_errors(bp).head is not None


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, path
    return data


def test_cli_writes_every_figure_and_csv(conv_dir, small_data_dir, tmp_path, capsys):
    from dcl.cli import main

    d = ["--data-dir", str(small_data_dir), "--no-progress"]
    out = tmp_path / "fig"
    assert main(["analyze", "saliency", str(conv_dir), "--images", "0,5", "--out", str(out), *d]) == 0
    assert main(["analyze", "embeddings", str(conv_dir), "--out", str(out), *d]) == 0
    assert main(["analyze", "confusion", str(conv_dir), "--out", str(out), *d]) == 0
    assert main(["analyze", "layers", str(conv_dir), str(conv_dir), "--names", "a,b", "--out", str(out), *d]) == 0
    assert main(["analyze", "mutual-info", str(conv_dir), "--train-samples", "64", "--test-samples", "64",
                 "--epochs", "1", "--batch-size", "32", "--out", str(out), *d]) == 0
    so_far = capsys.readouterr().out
    first = next(line for line in so_far.splitlines() if "mutual-info" in line or "I(h,x)" in line)
    assert first.startswith("mutual-info ") and "steps of 32" in first  # the estimated time comes first
    assert main(["analyze", "ensemble", str(conv_dir), "--values", "0,1,2", "--out", str(out), *d]) == 0
    for name in ("saliency", "embeddings-tsne", "embeddings-similarity", "confusion-matrix",
                 "confusion-vs-similarity", "layers", "mutual-info", "ensemble"):
        _png(out / f"{name}.png")
    csv = {n: (out / f"{n}.csv").read_text().splitlines() for n in
           ("saliency", "embeddings", "confusion", "confusion-pairs", "layers", "mutual-info", "ensemble")}
    assert len(csv["saliency"]) == 1 + 2 * 2 * (28 * 28 + 14 * 14)   # images x ranks x positions of both blocks
    assert csv["embeddings"][1].startswith("0,T-shirt/top,")
    assert len(csv["confusion"]) == 101 and len(csv["confusion-pairs"]) == 46
    assert [line.split(",")[3] for line in csv["layers"][1:4]] == ["block", "block", "head"]
    assert len(csv["mutual-info"]) == 4 and len(csv["ensemble"]) == 4
    printed = so_far + capsys.readouterr().out
    assert "Pearson r(confusion rate, embedding similarity)" in printed


def test_cli_errors_are_one_line(conv_dir, small_data_dir, tmp_path, capsys, monkeypatch):
    from dcl.analysis import plotting
    from dcl.cli import main

    d = ["--data-dir", str(small_data_dir)]
    assert main(["analyze", "saliency", str(conv_dir), "--images", "0,x", *d]) == 2
    assert main(["analyze", "confusion", str(conv_dir), "--predict", "block:9", *d]) == 2
    assert main(["analyze", "segments", "--arch", "fc", *d]) == 2
    assert main(["analyze", "layers", str(tmp_path / "missing"), *d]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("dcl analyze: error: ") for line in err)
    assert "block:9" in err[1] and "needs --arch and --data" in err[2] and "no checkpoint" in err[3]

    real_import = plotting.importlib.import_module

    def no_matplotlib(name, *a):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *a)

    monkeypatch.setattr(plotting.importlib, "import_module", no_matplotlib)
    assert main(["analyze", "layers", str(conv_dir), *d]) == 2
    msg = capsys.readouterr().err.strip()
    assert msg.count("\n") == 0 and "pip install 'dcl-local[analysis]'" in msg


def test_mutual_info_on_flat_blocks_of_any_method(tmp_path, small_fmnist):
    bp = _train(tmp_path / "bp", small_fmnist, arch="fc", method="bp", width=64, segments=4)
    mi = estimate_mutual_information(bp, train_samples=128, test_samples=64, epochs=1, batch_size=32)
    assert mi.layers == ["input", "block 1", "block 2"] and all(0 <= a <= 1 for a in mi.i_hy)
    from dcl.analysis.mutual_info import estimator_features
    x, _, _ = images(bp, [0, 1])
    assert [tuple(f.shape) for f in estimator_features(bp, x)] == [(2, 784), (2, 64), (2, 64)]


def test_ensemble_reuses_what_runs_names(conv_dir, small_data_dir, tmp_path, capsys, monkeypatch):
    """--runs is the sweep's folder of runs (reused there), or a trained run itself: nothing is retrained."""
    from pathlib import Path

    from dcl.analysis.sweeps.base import Sweep
    from dcl.cli import main

    d = ["--data-dir", str(small_data_dir), "--no-progress"]
    before = sorted(p.name for p in conv_dir.iterdir())
    assert main(["analyze", "ensemble", "--runs", str(conv_dir), "--values", "0,1", "--out", str(tmp_path / "a"), *d]) == 0
    assert len((tmp_path / "a" / "ensemble.csv").read_text().splitlines()) == 3
    assert sorted(p.name for p in conv_dir.iterdir()) == before  # read, not trained again
    seen = []
    monkeypatch.setattr(Sweep, "run", lambda self, points: seen.append(Path(self.runs_dir)) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["analyze", "ensemble", "--arch", "fc", "--data", "mnist", "--runs", str(tmp_path / "shared"),
              "--out", str(tmp_path / "b"), *d])
    assert seen == [tmp_path / "shared"]  # the sweep looks for its run in --runs, not in OUT/runs
