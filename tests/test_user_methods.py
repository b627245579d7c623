"""Methods that read dataset facts (FF and SymBa's label overlay, PFF's pixel range, LL-contrec's
reconstruction target), LL-cont and DCL train on a user's own tensors, ``dcl.train(cfg,
data=(x, y, x_test, y_test))``, at MNIST's shape and at another (3x16x16), and predict; the facts
come from the user's data (mean and std measured on its training images), never from a
dataset looked up by name."""
import pytest
import torch

import dcl
from dcl.engine.callbacks import Callback

from tiny import tiny_config

SHAPES = [(1, 28, 28), (3, 16, 16)]
#: method -> the network it trains (FF and SymBa, LL and DCL: any; PFF: its own circuit)
ARCH_OF = {"ff": "fc", "symba": "fc", "pff": "pff", "ll-cont": "conv", "ll-contrec": "conv", "dcl": "conv"}


def user_tensors(shape, n=48, n_test=20, seed=0):
    """Random [0, 1] images ``(N, *shape)`` brighter than MNIST (mean about 0.7) and labels of 4 classes."""
    g = torch.Generator().manual_seed(seed)
    x = 0.4 + 0.6 * torch.rand(n + n_test, *shape, generator=g)
    y = torch.arange(n + n_test) % 4
    return x[:n], y[:n], x[n:], y[n:]


class Grab(Callback):
    """Keeps the run the engine built."""

    def on_train_start(self, run) -> None:
        self.run = run


def expected_spec(x):
    c = x.shape[1]
    flat = x.transpose(0, 1).reshape(c, -1)
    return flat.mean(1), flat.std(1, unbiased=False)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("method", list(ARCH_OF))
def test_method_trains_and_predicts_on_user_tensors(method, shape, tmp_path):
    x, y, xt, yt = user_tensors(shape)
    cfg = tiny_config(method, ARCH_OF[method], batch_size=16, limit_train_batches=2, eval_batch_size=32,
                      tensorboard=False, **({"pff_steps": 2, "pff_eval_steps": 2} if method == "pff" else {}))
    grab = Grab()
    s = dcl.train(cfg, tmp_path / "run", data=(x, y, xt, yt), log=None, callbacks=[grab])
    assert s["data"] == "custom" and s["epochs"] == 1 and s["batches_per_epoch"] == 2
    run = grab.run
    mean, std = expected_spec(x)
    spec = run.method.data
    assert spec is run.dataset.spec and spec.in_shape == shape and spec.num_classes == 4
    assert torch.allclose(torch.tensor(spec.mean), mean, atol=1e-5)
    assert torch.allclose(torch.tensor(spec.std), std, atol=1e-5)
    if method in ("ff", "symba"):   # the label overlay's black and white pixels, normalised as the data were
        lo, hi = run.method.bounds
        assert lo == pytest.approx(-spec.mean[0] / spec.std[0]) and hi == pytest.approx((1 - spec.mean[0]) / spec.std[0])
        assert lo < -2.0                          # MNIST's (p - 0.5) / 0.5 would give -1
    if method == "pff":             # the circuit reads pixels: the normalisation undone with the data's own facts
        pixels = run.net.blocks[0].inputs[0]
        assert torch.allclose(pixels.mean.flatten().cpu(), mean, atol=1e-5)
        assert torch.allclose(pixels.std.flatten().cpu(), std, atol=1e-5)
        xn = (xt[:3] - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
        assert torch.allclose(run.net.pixels(xn), xt[:3].flatten(1), atol=1e-5)
    if method == "ll-contrec":      # the reconstruction target: the batch back in [0, 1] pixels
        assert torch.allclose(run.method.pixel_mean.flatten().cpu(), mean, atol=1e-5)
        assert torch.allclose(run.method.pixel_std.flatten().cpu(), std, atol=1e-5)
    model = dcl.load(tmp_path / "run")      # the spec travels with the run
    assert (model.spec.in_shape, model.spec.mean, model.spec.std) == (spec.in_shape, spec.mean, spec.std)
    pred = model.predict(xt)
    assert pred.classes.shape == (20,) and pred.probs.shape == (20, 4)
    err = 100 * float((pred.classes != yt).float().mean())
    assert err == pytest.approx(s["test_error"], abs=1e-4)
    if method in ("ff", "symba"):
        assert model.method.bounds == pytest.approx(run.method.bounds)


def test_data_takes_four_arrays_and_not_train_data_too():
    x, y, xt, yt = user_tensors((1, 28, 28))
    cfg = tiny_config("dcl", limit_train_batches=1, batch_size=16)
    with pytest.raises(dcl.DCLError, match=r"data must be \(x, y, x_test, y_test\).*got 2 items"):
        dcl.train(cfg, data=(x, y), log=None)
    with pytest.raises(dcl.DCLError, match="not both"):
        dcl.train(cfg, data=(x, y, xt, yt), train_data=(x, y), log=None)
