"""DCL variants: dictionary kinds (Fig. 4), DCL-O / DCL-LD (App. F), projection adapters
(Table 5), cosine similarity (App. H), segments K (App. E) and the two dictionary-update modes."""
import copy
import json

import pytest
import torch
import torch.nn.functional as F

import dcl
from dcl import resolve_config
from dcl.engine.checkpoint import load_checkpoint
from dcl.cli import main as cli_main
from dcl.errors import DCLError
from dcl.losses import dict_loss
from dcl.methods import METHODS, build_method
from dcl.methods.dcl import dictionary_row_norm
from dcl.models import ARCHS, build_model, count_params
from dcl.engine import build_run

from conftest import small_dataset
from tiny import MNIST, spec_of, tiny_config


def cfg_of(**kw):
    return tiny_config(**{"batch_size": 64, "width": 64, "segments": 4, "eval_batch_size": 256, **kw})


def built(**kw):
    cfg = cfg_of(**kw)
    torch.manual_seed(0)
    net = build_model(cfg, MNIST)
    return net, build_method(net, cfg)


def batch(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def opt_ids(opt):
    return {id(p) for g in opt.param_groups for p in g["params"]} if opt is not None else set()


# --- registry ---------------------------------------------------------------------------------
def test_every_variant_is_registered_with_a_description(capsys):
    for name in ("dcl", "dcl-s", "dcl-o", "dcl-ld"):
        assert name in METHODS and METHODS.describe(name)
    assert cli_main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert "dcl-o " in out and "dcl-ld " in out


# --- dictionary kinds (Fig. 4) -------------------------------------------------------------------
def test_orthogonal_static_dictionary_has_orthogonal_rows_of_the_requested_norm():
    _, method = built(method="dcl-s", dict_init="orthogonal", dict_norm=3.0)
    w = method.dictionary.weight
    assert tuple(w.shape) == (10, 16)
    assert torch.allclose(w @ w.t(), 9.0 * torch.eye(10), atol=1e-4)
    _, method = built(method="dcl-s", dict_norm=2.5)  # D^N rescaled, not orthogonal
    assert torch.allclose(method.dictionary.weight.norm(dim=1), torch.full((10,), 2.5), atol=1e-5)
    assert (method.dictionary.weight @ method.dictionary.weight.t() - 6.25 * torch.eye(10)).abs().max() > 0.5


@pytest.mark.parametrize("extra", [{}, {"dict_init": "orthogonal"}, {"adapter": "project"},
                                   {"dict_update": "accumulate"}, {"similarity": "cosine"}])
def test_static_dictionaries_never_change_over_training_steps(extra):
    net, method = built(method="dcl-s", **extra)
    before = method.dictionary.weight.clone()
    block0 = net.blocks[0][1].weight.detach().clone()
    for step in range(3):
        method.train_step(*batch(seed=step))
    assert torch.equal(method.dictionary.weight, before)
    assert not torch.equal(net.blocks[0][1].weight, block0)  # the blocks did learn
    assert count_params(method.aux) == (0 if "adapter" not in extra else 2 * (16 * 16 + 16))


def test_dict_norm_from_a_trained_checkpoint(tmp_path, mnist, capsys, real_data_dir):
    data = small_dataset(mnist, 256, 64)
    dcl.train(cfg_of(limit_train_batches=2), out=tmp_path / "z", dataset=data, log=None)
    state = load_checkpoint(tmp_path / "z")
    want = float(state["aux"]["dictionary.weight"].norm(dim=1).mean())
    assert dictionary_row_norm(tmp_path / "z" / "checkpoint.pt") == pytest.approx(want)
    run = build_run(cfg_of(method="dcl-s", dict_init="orthogonal", dict_norm_from=str(tmp_path / "z")), dataset=data)
    assert torch.allclose(run.method.dictionary.weight.norm(dim=1), torch.full((10,), want), atol=1e-4)
    # the same through the CLI flags of the issue: --dict-init orthogonal --dict-norm CHECKPOINT
    code = cli_main(["train", "--arch", "fc", "--data", "mnist", "--method", "dcl-s", "--epochs", "1",
                     "--limit-train-batches", "1", "--set", "width=64", "--set", "segments=4",
                     "--dict-init", "orthogonal", "--dict-norm", str(tmp_path / "z"), "--data-dir", str(real_data_dir),
                     "--out", str(tmp_path / "s"), "--no-progress", "--json"])
    assert code == 0
    w = load_checkpoint(tmp_path / "s")["aux"]["dictionary.weight"]
    assert torch.allclose(w @ w.t(), want ** 2 * torch.eye(10), atol=1e-3)
    assert json.loads(capsys.readouterr().out)["config"]["dict_norm_from"] == str(tmp_path / "z")
    # a number works too
    code = cli_main(["train", "--arch", "fc", "--data", "mnist", "--method", "dcl-s", "--epochs", "1",
                     "--limit-train-batches", "1", "--set", "width=64", "--set", "segments=4",
                     "--dict-norm", "7", "--data-dir", str(real_data_dir), "--out", str(tmp_path / "n"),
                     "--no-progress", "--json"])
    assert code == 0
    w = load_checkpoint(tmp_path / "n")["aux"]["dictionary.weight"]
    assert torch.allclose(w.norm(dim=1), torch.full((10,), 7.0), atol=1e-4)
    capsys.readouterr()
    # a model without dictionary, or both options at once, is a user error
    dcl.train(cfg_of(method="bp", limit_train_batches=1), out=tmp_path / "bp", dataset=data)
    with pytest.raises(DCLError, match="holds no label dictionary"):
        built(method="dcl-s", dict_norm_from=str(tmp_path / "bp"))
    with pytest.raises(DCLError, match="not both"):
        built(method="dcl-s", dict_norm=2.0, dict_norm_from=str(tmp_path / "z"))


# --- DCL-O ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("update", ["sequential", "accumulate"])
def test_dcl_o_only_the_last_block_moves_the_dictionary(update):
    net, method = built(arch="conv", channels=(4, 8, 8), method="dcl-o", dict_update=update)
    d = method.dictionary.weight
    assert len(net.blocks) == 3
    # the dictionary is stepped by the last block's optimizer (sequential) or the shared one only
    holders = [i for i, o in enumerate(method.block_opts) if id(d) in opt_ids(o)]
    assert holders == ([2] if update == "sequential" else [])
    assert (id(d) in opt_ids(method.shared_opt)) == (update == "accumulate")
    # after blocks 1..L-2 stepped, the dictionary is unchanged and has no gradient
    before = d.detach().clone()
    seen = {}
    last = method.block_opts[-1]
    orig_step = last.step

    def step(*a, **k):
        seen["before_last"] = d.detach().clone()
        return orig_step(*a, **k)

    last.step = step
    grads = []
    orig_loss = method.block_loss

    def block_loss(i, h, y):
        grads.append(None if d.grad is None else d.grad.detach().clone())
        return orig_loss(i, h, y)

    method.block_loss = block_loss
    method.train_step(*batch())
    assert torch.equal(seen["before_last"], before)
    assert grads[0] is None and grads[1] is None and grads[2] is None  # blocks 1, 2 gave it no gradient
    assert not torch.equal(d.detach(), before)  # the last block did move it


def test_plain_dcl_moves_the_dictionary_before_the_last_block():
    net, method = built(arch="conv", channels=(4, 8, 8), method="dcl")
    d = method.dictionary.weight
    before = d.detach().clone()
    seen = {}
    orig_step = method.block_opts[-1].step
    method.block_opts[-1].step = lambda *a, **k: (seen.setdefault("w", d.detach().clone()), orig_step(*a, **k))[1]
    method.train_step(*batch())
    assert not torch.equal(seen["w"], before)


# --- DCL-LD --------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, extra, shape", [("fc", {}, (1, 28, 28)), ("conv", {"channels": (8, 16)}, (1, 28, 28)),
                                                ("vgg8b", {}, (3, 32, 32))])
def test_dcl_ld_delta_params_is_z_times_the_sum_of_block_widths(arch, extra, shape):
    if arch not in ARCHS:
        pytest.skip(f"{arch} is not registered")
    cfg = cfg_of(arch=arch, method="dcl-ld", **extra) if arch != "vgg8b" else \
        resolve_config(arch="vgg8b", data="mnist", method="dcl-ld")
    net = build_model(cfg, spec_of(shape, 10))
    method = build_method(net, cfg)
    widths = [s.width for s in net.specs]
    assert count_params(method.aux) == 10 * sum(widths)
    assert [tuple(d.weight.shape) for d in method.aux.dictionaries] == [(10, w) for w in widths]
    want = {"fc": 10 * (16 + 16), "conv": 10 * (8 + 16),
            "vgg8b": 10 * (128 + 256 + 256 + 512 + 512 + 512 + 512)}[arch]
    assert count_params(method.aux) == want


def test_dcl_ld_each_block_trains_only_its_own_dictionary():
    net, method = built(arch="conv", channels=(4, 8), method="dcl-ld")
    ds = [d.weight for d in method.aux.dictionaries]
    for i, opt in enumerate(method.block_opts):
        assert opt_ids(opt) == {id(p) for p in net.blocks[i].parameters()} | {id(ds[i])}
    before = [d.detach().clone() for d in ds]
    sources = {0: set(), 1: set()}
    phase = {}
    hooks = [d.register_hook(lambda g, j=j: sources[j].add(phase["i"])) for j, d in enumerate(ds)]
    orig = method.block_loss
    method.block_loss = lambda i, h, y: (phase.__setitem__("i", i), orig(i, h, y))[1]
    method.train_step(*batch())
    for h in hooks:
        h.remove()
    assert sources == {0: {0}, 1: {1}}
    assert all(not torch.equal(b, d.detach()) for b, d in zip(before, ds))
    with pytest.raises(DCLError, match="does not apply to dcl-ld"):
        built(method="dcl-ld", adapter="project")


# --- projection adapter f_P^l (Table 5) -----------------------------------------------------------
def test_project_adds_exactly_the_linear_maps_and_each_block_trains_its_own():
    net, pooled = built(arch="conv", channels=(8, 16), method="dcl")
    net, proj = built(arch="conv", channels=(8, 16), method="dcl", adapter="project")
    c_d = 16
    assert count_params(proj.aux) - count_params(pooled.aux) == sum(c_d * c + c for c in (8, 16)) == 408
    for i, opt in enumerate(proj.block_opts):
        want = {id(p) for p in net.blocks[i].parameters()} | {id(p) for p in proj.aux.projections[i].parameters()}
        assert opt_ids(opt) == want | {id(proj.dictionary.weight)}
    before = [p.weight.detach().clone() for p in proj.aux.projections]
    proj.train_step(*batch())
    assert all(not torch.equal(b, p.weight) for b, p in zip(before, proj.aux.projections))
    # the logits are <h, f_P(t_z)> averaged over positions (hand-computed for block 1)
    x, _ = batch(4)
    with torch.no_grad():
        h = net.blocks[0](x)
        t = proj.aux.projections[0](proj.dictionary.weight)  # (Z, 8)
        want = torch.einsum("bchw,zc->bz", h, t) / (h.shape[2] * h.shape[3])
        assert torch.allclose(proj.block_logits(0, h), want, atol=1e-5)


# --- cosine similarity (App. H) ------------------------------------------------------------------
@pytest.mark.parametrize("method_name, extra", [("dcl", {}), ("dcl-s", {}), ("dcl-o", {}), ("dcl-ld", {}),
                                                ("dcl", {"adapter": "project"})])
def test_cosine_similarity_works_through_every_method(method_name, extra):
    net, method = built(method=method_name, similarity="cosine", temperature=0.1, **extra)
    assert method.dictionary_of(0).temperature == 0.1
    x, y = batch(16)
    with torch.no_grad():
        h = net.blocks[0](x)
        s = method.block_logits(0, h)
        assert s.abs().max() <= 10.0 + 1e-4  # |cos| <= 1, divided by tau
        # hand-computed for the pooled variants: mean over segments of cosines / tau
        if "adapter" not in extra:
            t = method.dictionary_of(0).weight
            t = F.adaptive_avg_pool1d(F.normalize(t, dim=1).unsqueeze(1), 16).squeeze(1)
            segs = F.normalize(h.view(16, 4, 16), dim=2)
            want = torch.einsum("bkc,zc->bz", segs, t) / 4 / 0.1
            assert torch.allclose(s, want, atol=1e-4)
    stats = method.train_step(x, y)
    assert torch.isfinite(stats["block_losses"]).all()


# --- segments K (App. E) -------------------------------------------------------------------------
def test_any_segment_count_dividing_the_width_works_including_one():
    for k in (1, 2, 64):
        net, method = built(segments=k)
        assert method.dictionary.weight.shape[1] == 64 // k
        assert torch.isfinite(method.train_step(*batch())["block_losses"]).all()
    with pytest.raises(DCLError, match="segments"):
        built(segments=3)


# --- dictionary update modes ---------------------------------------------------------------------
def _adamw_first_step(p, g, lr, wd, eps=1e-8):
    """AdamW's first update of parameter p with gradient g (bias-corrected m/sqrt(v) = g/|g|)."""
    return p * (1 - lr * wd) - lr * g / (g.abs() + eps)


@pytest.mark.parametrize("update", ["sequential", "accumulate"])
def test_dictionary_update_modes_match_hand_computed_adamw_steps(update):
    lr, wd = 1e-3, 0.01
    net, method = built(method="dcl", dict_update=update, lr=lr, weight_decay=wd)
    ref = copy.deepcopy(net)
    d0 = method.dictionary.weight.detach().clone()
    x, y = batch(32)
    method.train_step(x, y)
    h1 = ref.blocks[0](x)
    h2 = ref.blocks[1](h1.detach())  # block 2 sees block 1's output from before block 1's step
    if update == "accumulate":
        d = d0.clone().requires_grad_()
        g, = torch.autograd.grad(dict_loss(h1, y, d, 4) + dict_loss(h2, y, d, 4), d)
        want = _adamw_first_step(d0, g, lr, wd)
    else:
        d = d0.clone().requires_grad_()
        g1, = torch.autograd.grad(dict_loss(h1, y, d, 4), d)
        d1 = _adamw_first_step(d0, g1, lr, wd)  # block 1's AdamW
        d = d1.clone().requires_grad_()
        g2, = torch.autograd.grad(dict_loss(h2, y, d, 4), d)  # block 2 sees the updated dictionary
        want = _adamw_first_step(d1, g2, lr, wd)  # block 2's own AdamW (its own first step)
    assert torch.allclose(method.dictionary.weight.detach(), want, atol=1e-6)
    # optimizer state: one copy of the dictionary's moments per block (sequential) or one in all
    w = method.dictionary.weight
    copies = sum(w in o.state for o in method.block_opts) + (w in method.shared_opt.state if method.shared_opt else 0)
    assert copies == (2 if update == "sequential" else 1)


# --- every variant trains by name on real MNIST ----------------------------------------------------
VARIANTS = [("dcl", {}), ("dcl-s", {}), ("dcl-s", {"dict_init": "orthogonal"}), ("dcl-o", {}), ("dcl-ld", {}),
            ("dcl", {"adapter": "project"}), ("dcl", {"similarity": "cosine"}), ("dcl", {"segments": 1}),
            ("dcl", {"dict_update": "accumulate"}), ("dcl-o", {"dict_update": "accumulate"})]


@pytest.mark.parametrize("method_name, extra", VARIANTS, ids=[f"{m}-{'-'.join(map(str, e.values())) or 'default'}"
                                                              for m, e in VARIANTS])
def test_each_variant_trains_on_real_mnist(mnist, method_name, extra):
    data = small_dataset(mnist, 256, 64)
    run = build_run(cfg_of(method=method_name, lr=3e-3, batch_size=128, **extra), dataset=data)
    x, y = next(iter(run.train_loader()))
    first = run.method.train_step(x, y)["block_losses"]
    for _ in range(8):
        last = run.method.train_step(x, y)["block_losses"]
    assert torch.isfinite(last).all()
    assert (last < first).all(), (first, last)  # every block's L_dict went down
    s = dcl.train(run.cfg.replace(limit_train_batches=2), dataset=data)
    assert len(s["layer_test_errors"]) == 2 and s["test_error"] is not None
