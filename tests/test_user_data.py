"""Your own data: a TensorDataset, a DataLoader, numpy arrays; runs of them load without data
files; dcl eval says how to evaluate them."""
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import dcl
from dcl.cli import main
from tiny import tiny_config


@pytest.fixture(scope="module")
def arrays(mnist):
    """Real MNIST as a user would hold it: float images on [0, 1], int labels."""
    x = mnist.train.images[:1024].float() / 255
    xt = mnist.test.images[:500].float() / 255
    return x, mnist.train.labels[:1024], xt, mnist.test.labels[:500]


def cfg(**kw):
    return tiny_config(preset=False, **{"epochs": 2, "batch_size": 64, "lr": 5e-3, "width": 64, "tensorboard": False,
                                        **kw})


def test_train_on_a_tensor_dataset_and_load_it_without_data_files(arrays, tmp_path, capsys):
    x, y, xt, yt = arrays
    s = dcl.train(cfg(), tmp_path / "run", train_data=TensorDataset(x, y), test_data=(xt, yt), log=None)
    assert s["data"] == "custom" and s["epochs"] == 2
    assert s["test_error"] < 50 and max(s["layer_test_errors"]) < 40    # far from chance (90 %)
    model = dcl.load(tmp_path / "run")                                  # no data on disk needed
    pred = model.predict(xt)
    assert 100 * float((pred.classes != yt).float().mean()) == pytest.approx(s["test_error"], abs=1e-4)
    # the normalisation was measured on the training images and is saved with the run
    assert model.spec.mean[0] == pytest.approx(float(x.mean()), abs=1e-4)
    code = main(["eval", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "trained on your own data ('custom')" in err and "dcl.load(RUN)" in err


def test_train_on_dataloaders(arrays):
    x, y, xt, yt = arrays
    train_dl = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    test_dl = DataLoader(TensorDataset(xt, yt), batch_size=250)
    s = dcl.train(cfg(), train_data=train_dl, test_data=test_dl, log=None)
    assert s["epochs"] == 2 and s["batches_per_epoch"] == 16
    assert s["test_error"] < 50 and max(s["layer_test_errors"]) < 40


def test_numpy_uint8_arrays_and_mistakes(arrays):
    x, y, xt, yt = arrays
    xu, xtu = (x * 255).round().to(torch.uint8).numpy()[:, 0], (xt * 255).round().to(torch.uint8).numpy()[:, 0]
    s = dcl.train(cfg(epochs=1), train_data=(xu, y.numpy()), test_data=(xtu, yt.numpy()), log=None)
    assert s["test_error"] < 60
    for kw, msg in ((dict(train_data=(x, y)), "test_data is needed"),
                    (dict(train_data=(x, y[:10]), test_data=(xt, yt)), "1024 images but 10 labels"),
                    (dict(train_data=(x, y.float()), test_data=(xt, yt)), "integer class indices"),
                    (dict(train_data=(x, y), test_data=(xt[:, :, :14], yt)), r"test_data images are \(1, 14, 28\)"),
                    (dict(train_data="images", test_data=(xt, yt)), "must be \\(images, labels\\)")):
        with pytest.raises(dcl.DCLError, match=msg):
            dcl.train(cfg(epochs=1), log=None, **kw)
