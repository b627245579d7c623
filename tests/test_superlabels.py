"""Super-label inference (App. D): the CIFAR-100 fine -> coarse map, the naive / mean / super
modes on a hand-computed case, and on a tiny trained 100-class model through ``dcl eval``."""
import dataclasses
import json

import pytest
import torch

import dcl
import dcl.cli.eval as cli_eval
from dcl.cli import main as cli_main
from dcl.data import Dataset, Split
from dcl.errors import DCLError
from dcl.engine.run import run_scores
from dcl.predictor import load
from dcl.losses import dict_logits
from dcl.analysis.superlabels import (MODES, coarse_labels, mean_embeddings, superlabel_errors,
                                      superlabel_predictions)
from dcl.data.classnames import CIFAR100_COARSE_LABELS, CIFAR100_FINE_LABELS, CIFAR100_FINE_TO_COARSE
from tiny import tiny_config

# the widely used CIFAR-100 coarse label of each fine label, written out independently
STANDARD = [4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
            6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
            5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
            10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
            16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13]


def test_cifar100_fine_to_coarse_map():
    m = CIFAR100_FINE_TO_COARSE
    assert len(m) == 100 and len(CIFAR100_FINE_LABELS) == 100 and len(set(CIFAR100_FINE_LABELS)) == 100
    assert list(CIFAR100_FINE_LABELS) == sorted(CIFAR100_FINE_LABELS)  # the standard alphabetical order
    assert len(CIFAR100_COARSE_LABELS) == 20 and list(CIFAR100_COARSE_LABELS) == sorted(CIFAR100_COARSE_LABELS)
    assert torch.bincount(torch.tensor(m), minlength=20).tolist() == [5] * 20
    assert list(m) == STANDARD
    name = dict(zip(CIFAR100_FINE_LABELS, (CIFAR100_COARSE_LABELS[c] for c in m)))
    assert name["baby"] == name["woman"] == "people"
    assert name["chimpanzee"] == "large_omnivores_and_herbivores"
    assert name["forest"] == "large_natural_outdoor_scenes" and name["maple_tree"] == "trees"
    assert coarse_labels(torch.tensor([2, 33, 99]), m).tolist() == [14, 10, 13]


# --- a hand-computed case ----------------------------------------------------------------------
F2C = [0, 0, 1, 1]
D = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.5, 1.0], [0.5, 1.0]])   # (Z=4, C=2)
H = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]])               # (N=3, C=2)
# fine dot products: [3, -3, .5, .5], [0, 0, 1, 1], [-3, 3, -.3, -.3]
#   super: closest sub-label 0, 2, 1 -> super-labels [0, 1, 0]
# mean embeddings: super 0 = (0, 0), super 1 = (.5, 1): scores [0, .5], [0, 1], [0, -.3] -> [1, 1, 0]
HEAD = torch.tensor([[0.0, 0.0, 0.0, 5.0], [9.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])  # fine 3, 0, 1


def test_superlabel_modes_hand_computed():
    assert torch.equal(mean_embeddings(D, F2C), torch.tensor([[0.0, 0.0], [0.5, 1.0]]))
    assert superlabel_predictions("super", F2C, features=H, dictionary=D).tolist() == [0, 1, 0]
    assert superlabel_predictions("mean", F2C, features=H, dictionary=D).tolist() == [1, 1, 0]
    assert superlabel_predictions("naive", F2C, fine_scores=HEAD).tolist() == [1, 0, 0]
    # 'super' from precomputed last-block scores is the same thing
    assert superlabel_predictions("super", F2C, fine_scores=H @ D.t()).tolist() == [0, 1, 0]


def test_superlabel_modes_through_pooling():
    wide = D.repeat_interleave(2, dim=1)  # (4, 4): pool_l averages each pair back to D
    assert superlabel_predictions("super", F2C, features=H, dictionary=wide).tolist() == [0, 1, 0]
    assert superlabel_predictions("mean", F2C, features=H, dictionary=wide).tolist() == [1, 1, 0]
    # K = 2 segments of the flat features: [h, h] averages to h
    seg = lambda f, d: dict_logits(f, d, segments=2)  # noqa: E731
    assert superlabel_predictions("mean", F2C, features=H.repeat(1, 2), dictionary=wide,
                                  logits_fn=seg).tolist() == [1, 1, 0]


def test_superlabel_errors_are_user_errors():
    with pytest.raises(DCLError, match="naive, mean, super"):
        superlabel_predictions("best", F2C, fine_scores=HEAD)
    with pytest.raises(DCLError, match="needs sub-label scores"):
        superlabel_predictions("naive", F2C, features=H, dictionary=D)
    with pytest.raises(DCLError, match="no sub-labels"):
        mean_embeddings(D, [0, 0, 2, 2])


# --- a tiny trained 100-class model ------------------------------------------------------------
@pytest.fixture(scope="module")
def fake100(mnist):
    """MNIST-shaped images with 100 random classes (a stand-in for CIFAR-100, not on disk here)."""
    spec = dataclasses.replace(mnist.spec, num_classes=100)
    g = torch.Generator().manual_seed(0)

    def split(n):
        return Split(mnist.train.images[:n].clone(), torch.randint(0, 100, (n,), generator=g))

    return Dataset(spec, split(512), split(300), None)


def cfg100(**kw):
    return tiny_config(**{"batch_size": 128, "width": 64, "eval_batch_size": 100, **kw})


@pytest.fixture(scope="module")
def trained100(tmp_path_factory, fake100):
    root = tmp_path_factory.mktemp("super")
    for name, kw in (("dcl", {}), ("project", {"adapter": "project"}), ("ld", {"method": "dcl-ld"})):
        dcl.train(cfg100(**kw), out=root / name, dataset=fake100)
    return root


def _features(run):
    feats = []
    run.net.eval()
    with torch.no_grad():
        for x, _ in run.eval_loader():
            h = x
            for block in run.net.blocks:
                h = block(h)
            feats.append(h)
    return torch.cat(feats)


@pytest.mark.parametrize("name", ["dcl", "project", "ld"])
def test_superlabel_errors_of_a_trained_model(trained100, fake100, name):
    run = load(trained100 / name, dataset=fake100)
    res = superlabel_errors(run, MODES)
    scores = run_scores(run)
    m = torch.tensor(CIFAR100_FINE_TO_COARSE)
    coarse = m[scores.labels]

    def err(pred):
        return 100.0 * float((pred != coarse).float().mean())

    assert res["naive"] == pytest.approx(err(m[scores.head.argmax(1)]))
    assert res["super"] == pytest.approx(err(m[scores.blocks[-1].argmax(1)]))
    h = _features(run)  # (N, 64): K = 4 segments of 16
    d = run.method.dictionary.weight.detach()  # dcl-ld: the last block's own dictionary
    if name == "project":
        proj = run.method.aux.projections[1]
        with torch.no_grad():
            fn = lambda f, e: f.view(f.shape[0], 4, 16).mean(1) @ proj(e).t()  # noqa: E731
    else:
        fn = lambda f, e: dict_logits(f, e, segments=4)  # noqa: E731
    with torch.no_grad():
        want = superlabel_predictions("mean", m, features=h, dictionary=d, logits_fn=fn)
    assert res["mean"] == pytest.approx(err(want))
    with torch.no_grad():
        sup = superlabel_predictions("super", m, features=h, dictionary=d, logits_fn=fn)
    assert res["super"] == pytest.approx(err(sup))
    # naive of another sub-label predictor
    assert superlabel_errors(run, ["naive"], predict="block:1")["naive"] == pytest.approx(
        err(m[scores.blocks[0].argmax(1)]))


def test_eval_cli_superlabels(trained100, fake100, capsys, monkeypatch):
    monkeypatch.setattr(cli_eval, "load", lambda ck, **kw: load(ck, dataset=fake100))
    ck = str(trained100 / "dcl")
    lib = superlabel_errors(load(ck, dataset=fake100))
    assert cli_main(["eval", ck, "--superlabels", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["superlabels"] == pytest.approx(lib)
    assert cli_main(["eval", ck, "--superlabels", "mean", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["superlabels"] == pytest.approx({"mean": lib["mean"]})
    assert cli_main(["eval", ck, "--superlabels", "all"]) == 0
    out = capsys.readouterr().out
    assert all(mode in out for mode in MODES) and "CIFAR-20" in out
    assert cli_main(["eval", ck, "--superlabels", "naive", "--predict", "block:9"]) == 2
    assert "block:9" in capsys.readouterr().err
