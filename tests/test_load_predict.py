"""dcl.load + predict agree with dcl eval (a paper network and a user's network); dcl predict
on PNG / .npy files; dcl eval on a run of a user's network."""
import json

import numpy as np
import pytest
import torch
from torch import nn

import dcl
from dcl.cli import main
from dcl.data import load_dataset
from dcl.models import make_local

from smallmnist import small_mnist_dir  # noqa: F401  (fixture)

NET_FILE = '''
from torch import nn
from dcl.models import make_local

def build():
    seq = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    return make_local(seq, split_after=[2, 4], in_shape=(1, 28, 28), segments=[4, 4], name="mlp")
'''


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def error_of(pred, labels) -> float:
    return 100.0 * float((pred.classes != labels).float().mean())


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, small_mnist_dir):
    out = tmp_path_factory.mktemp("paper") / "run"
    assert main(["train", "--arch", "fc", "--data", "mnist", "--epochs", "1", "--batch-size", "128",
                 "--set", "width=64", "--set", "segments=4", "--set", "tensorboard=false", "--data-dir",
                 str(small_mnist_dir), "--out", str(out), "--no-progress"]) == 0
    return out


def test_load_and_predict_agree_with_dcl_eval_on_a_paper_network(capsys, paper_run, small_mnist_dir):
    test = load_dataset("mnist", small_mnist_dir).test
    model = dcl.load(paper_run)
    assert model.modes == ["head", "block:1", "block:2", "ensemble"]
    code, out, err = cli(capsys, "eval", paper_run, "--data-dir", small_mnist_dir, "--json")
    assert code == 0, err
    ev = json.loads(out)
    assert error_of(model.predict(test.images), test.labels) == pytest.approx(ev["test_error"], abs=1e-4)
    for i, e in enumerate(ev["layer_test_errors"], start=1):
        assert error_of(model.predict(test.images, mode=f"block:{i}"), test.labels) == pytest.approx(e, abs=1e-4)
    code, out, _ = cli(capsys, "eval", paper_run, "--data-dir", small_mnist_dir, "--json", "--predict", "ensemble",
                       "--p", "2")
    ens = model.predict(test.images, mode="ensemble", p=2)
    assert error_of(ens, test.labels) == pytest.approx(json.loads(out)["test_error"], abs=1e-4)
    # uint8 or [0, 1] floats, (N, C, H, W) or (N, H, W) or (N, H, W, C): the same classes
    head = model.predict(test.images[:50])
    assert torch.equal(model.predict(test.images[:50].float() / 255).classes, head.classes)
    assert torch.equal(model.predict(test.images[:50, 0].numpy()).classes, head.classes)
    assert torch.equal(model.predict(test.images[:50].permute(0, 2, 3, 1)).classes, head.classes)
    assert torch.allclose(head.probs.sum(1), torch.ones(50)) and head.probs.shape == (50, 10)
    with pytest.raises(dcl.DCLError, match=r"do not fit this model: it takes \(N, 1, 28, 28\)"):
        model.predict(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(dcl.DCLError, match="unknown prediction 'block:7'"):
        model.predict(test.images[:2], mode="block:7")


def test_dcl_predict_on_png_and_npy_files(capsys, paper_run, small_mnist_dir, tmp_path):
    from PIL import Image
    test = load_dataset("mnist", small_mnist_dir).test
    files = []
    for i in range(6):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(test.images[i, 0].numpy()).save(path)
        files.append(path)
    np.save(tmp_path / "batch.npy", test.images[6:10].numpy())
    code, out, err = cli(capsys, "predict", paper_run, *files, tmp_path / "batch.npy", "--json")
    assert code == 0, err
    got = [p["class"] for p in json.loads(out)["predictions"]]
    assert got == dcl.load(paper_run).predict(test.images[:10]).classes.tolist()
    code, out, err = cli(capsys, "predict", paper_run, tmp_path / "missing.png")
    assert code == 2 and "no such file" in err


def test_a_user_network_run_loads_with_its_network_and_dcl_eval_says_how(capsys, tmp_path, small_mnist_dir):
    (tmp_path / "mynets.py").write_text(NET_FILE)
    ns: dict = {}
    exec(NET_FILE, ns)
    data = load_dataset("mnist", small_mnist_dir)
    cfg = dcl.TrainConfig(data="mnist", method="dcl", epochs=1, batch_size=128, tensorboard=False)
    out = tmp_path / "run"
    s = dcl.train(cfg, out, net=ns["build"](), dataset=data, log=None)
    code, _, err = cli(capsys, "eval", out, "--data-dir", small_mnist_dir)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "trained on your own network ('mlp')" in err and "dcl.load(RUN, net=YOUR_NET)" in err
    assert s["arch"] == "mlp" and s["custom_net"] is True
    with pytest.raises(dcl.DCLError, match="own network"):
        dcl.load(out)
    model = dcl.load(out, net=ns["build"]())
    code, text, err = cli(capsys, "eval", out, "--data-dir", small_mnist_dir, "--json", "--net",
                          f"{tmp_path / 'mynets.py'}:build")
    assert code == 0, err
    ev = json.loads(text)
    assert ev["test_error"] == pytest.approx(s["test_error"], abs=1e-4)
    assert error_of(model.predict(data.test.images), data.test.labels) == pytest.approx(ev["test_error"], abs=1e-4)
    # a network that does not fit the weights is a one-line error, not a traceback
    other = make_local(nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10)),
                       split_after=[2], in_shape=(1, 28, 28), segments=[4])
    with pytest.raises(dcl.DCLError, match="do not fit"):
        dcl.load(out, net=other)
