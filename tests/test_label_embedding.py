"""The label-embedding family (docs/label-embedding.md): the shared parts against hand-computed
values, each member's loss and prediction against the formula of its paper / reference code on
the same tensors, gradient isolation between blocks, and a few steps on real MNIST."""
import math

import pytest
import torch
import torch.nn.functional as F

from dcl import train
from dcl.config import TrainConfig
from dcl.losses.label_embedding import (bhattacharyya, cosine_scores, group_goodness, periodic_vectors,
                                        simplex_vectors)
from dcl.methods import METHODS, build_method
from dcl.models import build_model

from conftest import layer_gradient_sources
from tiny import spec_of, tiny_config

MEMBERS = ["lls", "lls-m", "cwc", "deeperforward", "mono-forward", "spela", "hff", "sll"]
OWN_MODE = {"lls": "head", "lls-m": "head", "cwc": "goodness", "deeperforward": "goodness"}


def member(name: str, arch: str = "conv", **fields):
    """``name`` on a tiny network of ``arch`` (conv: 20 and 30 channels, fc: width 30) for 10 classes."""
    torch.manual_seed(0)
    net_fields = dict(channels=(20, 30)) if arch == "conv" else dict(width=30, segments=1)
    cfg = TrainConfig(arch=arch, method=name, **{**net_fields, **fields})
    return build_method(build_model(cfg, spec_of((1, 8, 8), 10)), cfg)


def block_input(method, i: int, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        for j in range(i):
            x = method.net.blocks[j](x)
    return x


def test_the_eight_members_are_registered():
    assert set(MEMBERS) <= set(METHODS.names())


def test_shared_parts_hand_computed():
    # group goodness: 4 channels, 2 classes -> groups {0,1}, {2,3}
    h = torch.tensor([[[[1.0]], [[3.0]], [[2.0]], [[0.0]]]])  # (1, 4, 1, 1)
    assert torch.allclose(group_goodness(h, 2), torch.tensor([[5.0, 2.0]]))  # (1+9)/2, (4+0)/2
    assert torch.allclose(group_goodness(h, 2, squared=False), torch.tensor([[2.0, 1.0]]))
    # simplex: unit rows, pairwise cosine -1/(Z-1)
    v = simplex_vectors(4, 8)
    assert torch.allclose(v @ v.t(), torch.full((4, 4), -1 / 3) + torch.eye(4) * (4 / 3), atol=1e-6)
    # periodic basis: row z = sin(w_z n), w = 50, 512 for Z = 2
    b = periodic_vectors(2, 3)
    assert torch.allclose(b, torch.tensor([[0.0, math.sin(50), math.sin(100)], [0.0, math.sin(512), math.sin(1024)]]), atol=1e-5)
    assert torch.equal(periodic_vectors(2, 3, "square"), torch.sign(b))
    # cosine scores and Bhattacharyya
    assert torch.allclose(cosine_scores(torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]]), 0.5),
                          torch.tensor([[1.2, 1.6]]))
    p, q = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.9, 0.1]])
    assert torch.allclose(bhattacharyya(p, q), torch.tensor(-math.log(math.sqrt(0.45) + math.sqrt(0.05))))
    assert bhattacharyya(q, q).abs() < 1e-6


def reference_scores(name: str, method, i: int, h: torch.Tensor) -> torch.Tensor:
    """Each member's block scores written from its paper / reference code, independently of dcl."""
    z = 10
    if name in ("lls", "lls-m"):  # LLS-DNN models/layers/lls_layers.py, compute_LLS (pool 2x2, temperature 0.5)
        lat = F.normalize(F.adaptive_avg_pool2d(h, (2, 2)).view(h.shape[0], -1), dim=1)
        t = torch.arange(lat.size(1)).float().unsqueeze(0)
        basis = torch.sin(torch.linspace(50, 512, z).unsqueeze(1) * t)
        pred = lat @ basis.T
        if name == "lls-m":
            pred = method.aux.mixing[i] * pred
        return pred / 0.5
    if name == "cwc":  # CwComp src/Layer_cnn.py, goodness_factorCW (Z divides C = 20, 30)
        sets = torch.split(h, h.shape[1] // z, dim=1)
        return torch.cat([s.pow(2).mean((1, 2, 3)).unsqueeze(-1) for s in sets], 1)
    pooled = h.mean(dim=(2, 3))
    if name == "deeperforward":
        n = (h - h.mean(dim=(1, 2, 3), keepdim=True)) / torch.sqrt(h.var(dim=(1, 2, 3), unbiased=False,
                                                                             keepdim=True) + 1e-5)
        return n.view(h.shape[0], z, -1).mean(dim=2)
    if name == "mono-forward":
        return pooled @ method.aux.projections[i].weight.T
    if name == "spela":
        g = pooled.shape[1] // z  # C = 30: groups of 3 units, v_z = (1[group z] - 1/Z) / norm
        v = torch.eye(z).repeat_interleave(g, dim=1) - 0.1
        v = v / v.norm(dim=1, keepdim=True)
        return (pooled / pooled.norm(dim=1, keepdim=True)) @ v.T
    if name == "hff":
        proto = method.aux.prototypes[i]
        return (pooled / pooled.norm(dim=1, keepdim=True)) @ (proto / proto.norm(dim=1, keepdim=True)).T / 0.1
    if name == "sll":
        return pooled @ getattr(method.aux, f"projection{i}").T
    raise AssertionError(name)


@pytest.mark.parametrize("name", MEMBERS)
def test_loss_and_prediction_equal_the_reference_formula(name):
    method = member(name)
    torch.manual_seed(1)
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 3, 7, 9])
    method.net.eval()
    prev = None
    for i in range(2):
        h = method.net.blocks[i](block_input(method, i, x))
        s = reference_scores(name, method, i, h)
        if name == "spela":
            expected = (1 - s[torch.arange(4), y]).mean()
        else:
            expected = F.cross_entropy(s, y)
        if name == "sll" and prev is not None:  # + D_B(p_1, sg[p_0]), beta = 1
            p = s.softmax(1)
            expected = expected - torch.log((p * prev).sqrt().sum(1)).mean()
        prev = s.softmax(1)
        assert torch.allclose(method.block_loss(i, h, y), expected, atol=1e-5), (name, i)
    out = method.predict_batch(x)
    mode = OWN_MODE.get(name, "last-block")
    assert method.default_prediction == mode
    own = out.head if mode == "head" else out.extra[mode]
    assert torch.allclose(out.blocks[-1], s, atol=1e-5)
    if mode != "head":
        assert torch.equal(own.argmax(1), s.argmax(1))


def test_hand_computed_cwc_and_sll_losses():
    """CwC: 10 channels, one per class; sample 1 has h = (2, 1, 0, ...): goodness (4, 1, 0, ...),
    CE for class 0 = log(e^4 + e + 8) - 4; sample 2 has h = (0, 3, 0, ...), class 0: log(e^9 + 9)."""
    method = member("cwc")
    h = torch.zeros(2, 10, 1, 1)
    h[0, 0], h[0, 1], h[1, 1] = 2.0, 1.0, 3.0
    expected = (math.log(math.exp(4) + math.e + 8) - 4 + math.log(math.exp(9) + 9)) / 2
    assert abs(method.block_loss(0, h, torch.tensor([0, 0])).item() - expected) < 1e-5
    assert method.block_logits(0, h).argmax(1).tolist() == [0, 1]
    # SLL's second block: identical posteriors in both blocks -> D_B = 0, the loss is the CE alone
    sll = member("sll", "fc")
    f = torch.randn(3, 30)
    sll.block_loss(0, f, torch.tensor([1, 2, 3]))
    sll.aux.projection1 = sll.aux.projection0.clone()
    assert torch.allclose(sll.block_loss(1, f, torch.tensor([1, 2, 3])),
                          F.cross_entropy(f @ sll.aux.projection0.T, torch.tensor([1, 2, 3])), atol=1e-5)


@pytest.mark.parametrize("arch", ["fc", "conv"])
@pytest.mark.parametrize("name", MEMBERS)
def test_no_gradient_crosses_a_block_boundary(name, arch):
    method = member(name, arch)
    x, y = torch.randn(8, 1, 8, 8), torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    sources, needs_grad = layer_gradient_sources(method, x, y)
    for pname, _ in method.net.named_parameters():
        expected = {f"block {pname.split('.')[1]}"} if pname.startswith("blocks.") else {"head"}
        assert sources.get(pname) == expected, (name, pname)
    assert not any(needs_grad)  # every block and the head start from a detached input
    for i, opt in enumerate(method.block_opts):  # a block's optimizer: its block and its own class vectors
        ids = {id(p) for g in opt.param_groups for p in g["params"]}
        own = {id(p) for p in method.block_params(i)}
        assert ids == {id(p) for p in method.net.blocks[i].parameters()} | own
        assert all(p.dim() >= 1 for p in method.block_params(i))
    fixed = {n: b.clone() for n, b in method.aux.named_buffers()}
    method.train_step(x, y)
    assert all(torch.equal(b, dict(method.aux.named_buffers())[n]) for n, b in fixed.items())  # fixed stays fixed


@pytest.mark.parametrize("name", MEMBERS)
def test_each_member_trains_on_real_mnist(name, tmp_path):
    net = dict(arch="conv", channels=(20, 40)) if name in ("cwc", "deeperforward") else dict(arch="fc", width=40)
    cfg = tiny_config(name, **net, limit_train_batches=3, batch_size=64, epochs=1)
    summary = train(cfg, out=tmp_path / name)
    assert 0.0 <= summary["test_error"] <= 100.0 and summary["global_steps"] == 3
    assert summary["config"]["method"] == name


def test_cfse_parameters_match_the_reference_layers():
    """CwComp's CFSE on MNIST (src/Models.py, CFSE=True, channels 20, 80, 240, 480): conv 3x3 with
    groups Z on layers 2 and 4, each conv with a bias and a BatchNorm (2 C), a linear predictor on
    the flattened 480x7x7 output."""
    cfg = TrainConfig(arch="cfse", method="cwc")
    net = build_model(cfg, spec_of((1, 28, 28), 10))
    layers = [(1, 20, 1), (20, 80, 10), (80, 240, 1), (240, 480, 10)]
    expected = sum(o * (i // g) * 9 + o + 2 * o for i, o, g in layers)
    assert expected == 280_560 == sum(p.numel() for p in net.blocks.parameters())
    assert sum(p.numel() for p in net.head.parameters()) == 480 * 7 * 7 * 10 + 10
    assert net.tap_shapes(None)[-1] == (480, 7, 7)
    method = build_method(net, cfg)
    sources, needs_grad = layer_gradient_sources(method, torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))
    assert not any(needs_grad) and sources["blocks.3.0.weight"] == {"block 3"}


@pytest.mark.parametrize("name", ["cwc", "deeperforward", "spela"])
def test_a_block_narrower_than_the_classes_is_one_line(name):
    from dcl.errors import DCLError
    with pytest.raises(DCLError, match="10") as err:
        member(name, channels=(4, 30))
    assert "\n" not in str(err.value)


def test_lls_mxm_mixes_the_scores_with_a_learned_matrix():
    """LLS-MxM (LLS-DNN ``LLS_MxM``): CE((f B^T) M / tau, y) with M (Z, Z) in block i's optimizer."""
    method = member("lls-m", lls_mixing="matrix")
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([1, 2, 3, 4])
    method.net.eval()
    h = method.net.blocks[0](x)
    plain = reference_scores("lls", method, 0, h) * 0.5  # f B^T
    expected = F.cross_entropy(plain @ method.aux.mixing[0] / 0.5, y)
    assert method.aux.mixing[0].shape == (10, 10)
    assert torch.allclose(method.block_loss(0, h, y), expected, atol=1e-5)
