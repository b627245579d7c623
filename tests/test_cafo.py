"""CaFo: frozen blocks never change, BatchNorm statistics from the training set, the closed-form
(MSE) and gradient-descent (CE) predictors against direct computations, sum-of-softmax inference."""
import pytest
import torch
import torch.nn.functional as F

from dcl import resolve_config
from dcl.errors import DCLError
from dcl.methods import build_method
from dcl.models import build_model
from dcl.engine import build_run, fit

from conftest import small_dataset
from tiny import MNIST, tiny_config


def tiny(**kw):
    return tiny_config("cafo", "cafo", **{"eval_batch_size": 200, "cafo_steps": 3, **kw})


@pytest.fixture(scope="module")
def data(mnist):
    return small_dataset(mnist, 600, 200)


def fitted(data, **kw):
    run = build_run(tiny(**kw), dataset=data)
    frozen = {n: p.detach().clone() for n, p in run.net.blocks.named_parameters()}
    loader = run.train_loader()
    for x, y in loader:
        run.method.train_step(x, y)
    xs, ys = zip(*loader)
    stats = run.method.epoch_end()
    return run, frozen, torch.cat(xs), torch.cat(ys), stats


@pytest.mark.parametrize("solver", ["mse", "ce"])
def test_block_weights_never_change(data, solver):
    run, frozen, *_ = fitted(data, cafo_solver=solver)
    in_opts = {id(p) for o in run.method.optimizers for g in o.param_groups for p in g["params"]}
    for name, p in run.net.blocks.named_parameters():
        assert not p.requires_grad and id(p) not in in_opts, name
        assert torch.equal(p, frozen[name]), name
    assert sum(p.numel() for p in frozen.values()) > 0
    # ... and the predictors did move
    assert not torch.equal(run.net.head[1].weight, torch.ones_like(run.net.head[1].weight))


def test_batchnorm_statistics_are_the_training_sets(data):
    run, _, x, _, _ = fitted(data, cafo_solver="mse")
    block1, block2 = run.net.blocks[0], run.net.blocks[1]
    with torch.no_grad():
        u = block1.pre_norm(x)                                    # the whole training set at once
        assert torch.allclose(block1.bn.running_mean, u.mean(dim=(0, 2, 3)), atol=1e-5)
        assert torch.allclose(block1.bn.running_var, u.var(dim=(0, 2, 3), unbiased=False), atol=1e-5)
        u2 = block2.pre_norm(block1(x))                           # block 2 reads block 1 normalised so
        assert torch.allclose(block2.bn.running_mean, u2.mean(dim=(0, 2, 3)), rtol=1e-3, atol=1e-4)
    assert not block1.training                                    # frozen blocks stay in eval mode
    run.net.train()
    assert not block1.training and not block1.bn.training


def test_mse_predictors_are_the_least_squares_solution(data):
    run, _, x, y, stats = fitted(data, cafo_solver="mse")
    target = F.one_hot(y, 10).double()
    for i in range(3):
        feats = run.method.features(i, x).double()                # (600, F_i), F_i = 392, 196, 72
        best = torch.linalg.lstsq(feats, target, driver="gelsd").solution     # (F_i, 10)
        got = run.net.predictor(i)[1].weight.detach().double().t()
        mse, best_mse = ((feats @ w - target).square().mean() for w in (got, best))
        assert float(mse) == pytest.approx(float(best_mse), rel=1e-4, abs=1e-7), i   # least squares
        assert float((feats.t() @ (feats @ got - target)).abs().max()) < 1e-2, i     # normal equations
        assert stats["block_losses"][i] == pytest.approx(float(mse), rel=1e-3, abs=1e-6)


def test_ce_predictors_follow_full_batch_gradient_descent(data):
    run, _, x, y, stats = fitted(data, cafo_solver="ce", cafo_steps=2)
    for i in range(3):
        feats = run.method.features(i, x)
        w = torch.ones(feats.shape[1], 10)                        # all-ones start, W <- W - 0.01 mean x (p - y)^T
        for _ in range(2):
            w = w - 0.01 * feats.t() @ (torch.softmax(feats @ w, 1) - F.one_hot(y, 10).float()) / len(y)
        assert torch.allclose(run.net.predictor(i)[1].weight.t(), w, atol=1e-5, rtol=1e-4), i
        assert stats["block_losses"][i] == pytest.approx(float(F.cross_entropy(feats @ w, y)), rel=1e-4)


def test_prediction_is_the_sum_of_the_predictors_softmaxes(data):
    run, _, x, _, _ = fitted(data, cafo_solver="mse")
    run.net.eval()
    with torch.no_grad():
        out = run.method.predict_batch(x[:50])
        probs = [torch.softmax(run.net.predictor(i)(run.method.outputs(i, x[:50])), 1) for i in range(3)]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(out.blocks, probs))
    assert torch.allclose(out.extra["sum"], sum(probs), atol=1e-6)
    assert run.method.default_prediction == "sum" and out.head.shape == (50, 10)
    # the authors' statistics: every evaluated batch normalised by its own
    batch = build_method(run.net, run.cfg.replace(cafo_bn_stats="batch"))
    with torch.no_grad():
        h = run.net.blocks[0].pre_norm(x[:50])
        own = F.batch_norm(h, None, None, training=True, eps=1e-4)
        assert torch.allclose(batch.block_out(0, x[:50], batch_stats=True), own, atol=1e-5)
        assert not torch.allclose(out.extra["sum"], batch.predict_batch(x[:50]).extra["sum"])


def test_cafo_learns_on_real_mnist_and_needs_its_own_net(mnist):
    run = build_run(tiny(cafo_solver="mse", channels=(4, 8, 16)), dataset=small_dataset(mnist, 2000, 500))
    s = fit(run, None)
    assert s["test_error"] < 20.0 and len(s["layer_test_errors"]) == 3, s["test_error"]
    record = run.history[0]                    # the engine reports the fit's losses (Method.epoch_end)
    assert len(record["block_losses"]) == 3 and record["train_loss"] == pytest.approx(
        sum(record["block_losses"]) / 3) and record["train_loss"] > 0
    cfg = resolve_config(arch="conv", data="mnist", method="cafo", channels=(4, 8))
    with pytest.raises(DCLError, match="--arch cafo"):
        build_method(build_model(cfg, MNIST), cfg)


def test_the_fit_at_the_epochs_end_counts_as_training_time(data, monkeypatch):
    # CaFo trains its predictors in epoch_end: that time belongs to train_seconds and seconds
    run = build_run(tiny(cafo_solver="mse"), dataset=data)
    fit_end = run.method.epoch_end

    def slow_fit():
        import time
        time.sleep(0.6)
        return fit_end()

    monkeypatch.setattr(run.method, "epoch_end", slow_fit)
    fit(run, None)
    record = run.history[0]
    assert record["train_seconds"] >= 0.6 and record["seconds"] >= record["train_seconds"], record


def test_chunked_cross_entropy_gradient_is_autograds():
    from dcl.methods.cafo import cross_entropy_and_gradient
    g = torch.Generator().manual_seed(0)
    feats, y = torch.randn(1037, 40, generator=g).relu(), torch.randint(0, 10, (1037,), generator=g)
    w = torch.randn(10, 40, generator=g).mul(0.1).requires_grad_()
    ref = F.cross_entropy(feats @ w.t(), y)
    ref.backward()
    for rows in (1, 100, 512, 5000):                              # ragged last chunk, one chunk
        loss, grad = cross_entropy_and_gradient(feats, y, w.detach(), rows=rows)
        assert loss.dtype == torch.float64 and grad.shape == (10, 40)
        assert float(loss) == pytest.approx(ref.item(), rel=1e-6), rows
        assert torch.allclose(grad, w.grad, atol=1e-6), rows


def test_least_squares_solve_on_a_singular_gram_is_the_pseudo_inverse():
    from dcl.methods.cafo import solve_least_squares
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(300, 50, generator=g, dtype=torch.float64).relu()
    feats[:, :7] = 0                                             # dead features: F^T F is singular
    feats[:, 7] = feats[:, 8] * 2                                # and two collinear ones
    target = torch.randn(300, 10, generator=g, dtype=torch.float64)
    gram, cross = feats.t() @ feats, feats.t() @ target
    assert int(torch.linalg.cholesky_ex(gram)[1]) != 0          # the fallback path is taken
    w = solve_least_squares(gram, cross)
    assert torch.allclose(w, torch.linalg.pinv(feats) @ target, atol=1e-9)   # minimum-norm solution
    assert float(w[:7].abs().max()) == 0.0
    good = gram + torch.eye(50, dtype=torch.float64)             # well conditioned: Cholesky
    assert torch.allclose(solve_least_squares(good, cross), torch.linalg.solve(good, cross), atol=1e-10)
