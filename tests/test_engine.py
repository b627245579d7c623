"""The local-learning engine: gradient isolation, dictionaries, resume, atomic checkpoints."""
import json

import pytest
import torch

import dcl.engine.checkpoint as ckpt
from dcl import train
from dcl.errors import DCLError
from dcl.methods import build_method
from dcl.models import build_model
from dcl.engine import build_run

from conftest import small_dataset
from tiny import MNIST, tiny_config


def tiny_cfg(**kw):
    return tiny_config(**{"batch_size": 64, "width": 64, "segments": 4, "eval_batch_size": 256, **kw})


def record_gradient_sources(method, x, y):
    """Run one train_step; return {param name: set of losses ('block i' / 'head') that gave it a gradient}."""
    net = method.net
    phase = {"now": None}
    sources = {}
    named = dict(net.named_parameters())
    named.update({f"aux.{n}": p for n, p in method.aux.named_parameters()})
    handles = []
    for name, p in named.items():
        handles.append(p.register_hook(lambda g, name=name: sources.setdefault(name, set()).add(phase["now"])))
    orig = method.block_loss if hasattr(method, "block_loss") else None

    def block_loss(i, h, y_):
        phase["now"] = f"block {i}"
        return orig(i, h, y_)

    if orig is not None:
        method.block_loss = block_loss
    handles.append(net.head.register_forward_pre_hook(lambda m, a: phase.__setitem__("now", "head")))
    try:
        method.train_step(x, y)
    finally:
        for h in handles:
            h.remove()
        if orig is not None:
            del method.block_loss
    return sources


@pytest.mark.parametrize("arch, extra", [("fc", {}), ("conv", {"channels": (8, 16)})])
@pytest.mark.parametrize("method_name", ["dcl", "dcl-s"])
def test_no_gradient_crosses_a_block_boundary(arch, extra, method_name):
    cfg = tiny_cfg(arch=arch, method=method_name, **extra)
    torch.manual_seed(0)
    net = build_model(cfg, MNIST)
    method = build_method(net, cfg)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    sources = record_gradient_sources(method, x, y)
    for name, p in net.named_parameters():
        if name.startswith("blocks."):
            i = int(name.split(".")[1])
            assert sources[name] == {f"block {i}"}, name
        else:
            assert sources[name] == {"head"}, name
    if method_name == "dcl":
        assert sources["aux.dictionary.weight"] == {f"block {i}" for i in range(len(net.blocks))}
    else:
        assert "aux.dictionary.weight" not in sources


def test_bp_gradients_reach_every_parameter_from_the_head_loss():
    cfg = tiny_cfg(method="bp")
    net = build_model(cfg, MNIST)
    method = build_method(net, cfg)
    sources = record_gradient_sources(method, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    assert set(sources) == {n for n, _ in net.named_parameters()}
    assert all(s == {"head"} for s in sources.values())


def test_each_block_steps_its_own_optimizer_with_the_dictionary():
    cfg = tiny_cfg()
    net = build_model(cfg, MNIST)
    method = build_method(net, cfg)
    d = method.dictionary.weight
    for i, opt in enumerate(method.block_opts):
        ids = {id(p) for g in opt.param_groups for p in g["params"]}
        assert ids == {id(p) for p in net.blocks[i].parameters()} | {id(d)}
    assert {id(p) for g in method.head_opt.param_groups for p in g["params"]} == {id(p) for p in net.head.parameters()}


def test_static_dictionary_never_changes_adaptive_does(mnist):
    data = small_dataset(mnist, 256, 64)
    for name, changes in (("dcl-s", False), ("dcl", True)):
        run = build_run(tiny_cfg(method=name), dataset=data)
        before = run.method.dictionary.weight.detach().clone()
        for x, y in run.train_loader():
            run.method.train_step(x, y)
        after = run.method.dictionary.weight.detach()
        assert (not torch.equal(before, after)) == changes, name


def test_training_lowers_the_loss_on_real_mnist(mnist):
    data = small_dataset(mnist, 2048, 500)
    # 96 steps of batch 64: far from converged, far better than chance (90%). The head learns
    # slowest under DCL: it is a linear probe on features that are still moving.
    for name in ("dcl", "dcl-s", "bp"):
        s = train(tiny_cfg(method=name, epochs=3, width=128), dataset=data)
        assert s["test_error"] < (25.0 if name == "bp" else 50.0), (name, s["test_error"])
        assert all(e < 30.0 for e in s["layer_test_errors"]), (name, s["layer_test_errors"])
    # the first epoch's loss is above the last's
    run = build_run(tiny_cfg(epochs=3), dataset=data)
    from dcl.engine import fit
    fit(run, None)
    losses = [r["train_loss"] for r in run.history]
    assert losses[-1] < losses[0]
    assert all(b1 > b3 for b1, b3 in zip(run.history[0]["block_losses"], run.history[-1]["block_losses"]))


def test_resume_gives_the_same_result_as_an_uninterrupted_run(fashion_mnist, tmp_path):
    # Fashion-MNIST (random flips) and dropout: the data order, augmentation and dropout RNG
    # must all continue exactly where the interrupted run stopped.
    data = small_dataset(fashion_mnist, 512, 256)
    cfg = tiny_cfg(data="fashion-mnist", epochs=3, dropout=0.2, milestones=(2,))
    full = train(cfg, tmp_path / "full", dataset=data)
    train(cfg.replace(epochs=2), tmp_path / "cut", dataset=data)
    resumed = train(cfg, tmp_path / "cut", dataset=data, resume=True)
    for key in ("test_error", "best_test_error", "layer_test_errors", "params", "delta_params", "epochs"):
        assert resumed[key] == full[key], key
    a = [json.loads(l) for l in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(l) for l in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    wa = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["net"]
    wb = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["net"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_run_folder_contents(mnist, tmp_path):
    s = train(tiny_cfg(epochs=2), tmp_path, dataset=small_dataset(mnist, 256, 128))
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("test_error", "best_test_error", "layer_test_errors", "params", "delta_params", "epochs",
                "seconds_per_epoch", "samples_per_second", "peak_memory_mb"):
        assert key in summary, key
    assert summary["epochs"] == 2 and len(summary["layer_test_errors"]) == 2
    assert summary["delta_params"] == 10 * 16
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2]
    assert s["test_error"] == summary["test_error"]


def test_checkpoint_write_is_atomic(mnist, tmp_path, monkeypatch):
    train(tiny_cfg(), tmp_path, dataset=small_dataset(mnist, 128, 64))
    good = (tmp_path / "checkpoint.pt").read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"partial garbage")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path / "checkpoint.pt", {"x": 1})
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert ckpt.load_checkpoint(tmp_path)["epoch"] == 1


def test_corrupt_checkpoint_is_a_user_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DCLError, match="cannot read checkpoint"):
        ckpt.load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(DCLError, match="no checkpoint"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


def test_methods_implement_update_and_train_step_is_the_base_one():
    """The template method: ``Method.train_step`` checks the batch, then calls the method's ``update``."""
    from dcl.methods import METHODS, Method
    classes = [c for c in (METHODS.get(n) for n in METHODS.names()) if isinstance(c, type)]
    assert classes
    for cls in classes:
        assert cls.train_step is Method.train_step, cls
        assert cls.update is not Method.update, cls
    m = build_method(build_model(tiny_cfg(), MNIST), tiny_cfg())
    with pytest.raises(DCLError, match="found 10"):
        m.train_step(torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 10]))
    m.check_inputs = False
    calls = []
    m.update = lambda x, y: calls.append(x.shape) or {}
    m.train_step(torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 10]))
    assert calls == [(4, 1, 28, 28)]


def test_one_process_is_the_one_rank_case():
    """A plain run takes the parallel runner's path, with hooks that do nothing: no branch on
    ``parallel is None`` in the engine."""
    import re
    from pathlib import Path

    import dcl.engine
    from dcl.engine.run import Run
    from dcl.parallel import Parallel, SingleProcess
    par = Parallel.start(tiny_cfg())
    assert type(par) is SingleProcess and par.is_writer and par.configure(tiny_cfg()) == tiny_cfg()
    loader, scores, sums = object(), object(), (torch.tensor(1.0), torch.ones(2), 3, 4.0)
    assert par.train_loader(loader) is loader and par.eval_loader(loader) is loader
    assert par.gather_scores(None, scores) is scores and par.reduce_epoch(*sums) == sums
    assert isinstance(Run.__dataclass_fields__["parallel"].default_factory(), SingleProcess)
    engine = Path(dcl.engine.__file__).parent
    assert [p.name for p in engine.glob("*.py") if re.search(r"parallel is (not )?None", p.read_text())] == []
