"""Any nn.Module made local (dcl.models.make_local), trained through the registry or by hand."""
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import dcl
from dcl import TrainConfig
from dcl.errors import DCLError
from dcl.methods import build_method
from dcl.models import LocalNet, count_params, make_local

from conftest import random_dataset

DOC = Path(__file__).resolve().parents[1] / "docs" / "architectures.md"




def readme_example() -> str:
    text = DOC.read_text()
    m = re.search(r"<!-- example: make_local.*?-->\s*```python\n(.*?)```", text, re.S)
    assert m, "the make_local example block is missing from docs/architectures.md"
    return m.group(1)


def test_readme_example_runs_as_written(real_data_dir, monkeypatch, capsys):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 20
    monkeypatch.setenv("DCL_DATA_DIR", str(real_data_dir))
    torch.manual_seed(0)
    ns: dict = {}
    exec(compile(code, str(DOC), "exec"), ns)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1280"
    s = ns["summary"]
    assert s["arch"] == "custom" and s["method"] == "dcl" and s["delta_params"] == 1280
    assert len(s["layer_test_errors"]) == 2
    assert s["test_error"] < 50 and max(s["layer_test_errors"]) < 50  # 100 steps learn MNIST well past chance
    assert ns["net"].blocks[0][1] is ns["model"][1]                    # the blocks are the model's own modules
    assert tuple(ns["method"].train_step(ns["x"], ns["y"])["block_losses"].shape) == (2,)


class Tokens(nn.Module):
    """(B, C, H, W) -> (B, H*W, C)."""

    def forward(self, x):
        return x.flatten(2).transpose(1, 2)


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),            # 0-2
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),                     # 3-4
        Tokens(), nn.Linear(16, 24), nn.ReLU(),                                  # 5-7: (B, 64, 24)
        nn.Flatten(), nn.Linear(64 * 24, 32), nn.ReLU(),                         # 8-10: (B, 32)
        nn.Linear(32, 5))                                                        # 11: head


def test_sequential_split_infers_every_layout():
    seq = small_cnn()
    net = make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16))
    assert isinstance(net, LocalNet) and net.num_classes == 5 and net.in_shape == (3, 16, 16)
    assert [(s.width, s.layout, s.segments) for s in net.specs] == [
        (8, "map", None), (16, "map", None), (24, "tokens", None), (32, "flat", 1)]
    assert len(net.head) == 1 and net.head[0] is seq[11]
    assert count_params(net) == count_params(seq)
    x = torch.randn(3, 3, 16, 16)
    seq.eval()
    assert torch.equal(net(x), seq(x))                 # the same function as the model
    assert not seq.training and not seq[1].training    # flags restored after the shape trace
    seq.train()
    net2 = make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16), layouts={2: "cls"}, segments=[None, None, None, 4])
    assert (net2.specs[2].layout, net2.specs[3].width, net2.specs[3].segments) == ("cls", 8, 4)
    assert seq[1].training


class TinyResNet(nn.Module):
    """A torchvision-style model whose forward() calls torch.flatten between its submodules."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.relu = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def named_split(model):
    return make_local(model, blocks=[["conv1", "bn1", "relu"], "layer1", "layer2"],
                      head=["avgpool", nn.Flatten(), "fc"], in_shape=(1, 12, 12), name="tiny")


def test_named_submodules_split_matches_the_model():
    model = TinyResNet()
    net = named_split(model)
    assert net.name == "tiny" and len(net.blocks) == 3
    assert [(s.width, s.layout) for s in net.specs] == [(8, "map"), (8, "map"), (16, "map")]
    model.eval()
    net.eval()
    x = torch.randn(4, 1, 12, 12)
    assert torch.allclose(net(x), model(x))


@pytest.mark.parametrize("method_name", ["bp", "dcl", "dcl-s"])
def test_made_local_network_trains_with_every_method(method_name):
    torch.manual_seed(0)
    model = TinyResNet()
    net = named_split(model)
    cfg = TrainConfig(method=method_name, lr=1e-3)
    method = build_method(net, cfg)
    x, y = torch.randn(16, 1, 12, 12), torch.arange(16) % 10
    before = model.conv1.weight.detach().clone()
    first = method.train_step(x, y)
    for _ in range(4):
        last = method.train_step(x, y)
    assert not torch.equal(model.conv1.weight, before)  # training the LocalNet trains the model
    if method_name == "bp":
        assert float(last["loss"]) < float(first["loss"])
    else:  # (the head chases features that move under it; the blocks' own losses fall)
        assert float(last["block_losses"].sum()) < float(first["block_losses"].sum())
        assert float(last["block_losses"][0]) < float(first["block_losses"][0])
        assert count_params(method.aux) == (10 * 16 if method_name == "dcl" else 0)


def test_no_gradient_crosses_a_block_boundary_of_a_user_network():
    torch.manual_seed(0)
    net = named_split(TinyResNet())
    method = build_method(net, TrainConfig(method="dcl"))
    seen = {}
    phase = {"now": None}
    for i, b in enumerate(net.blocks):
        b.register_forward_pre_hook(lambda m, a, i=i: phase.__setitem__("now", f"block {i}"))
    net.head.register_forward_pre_hook(lambda m, a: phase.__setitem__("now", "head"))
    for name, p in net.named_parameters():
        p.register_hook(lambda g, name=name: seen.setdefault(name, set()).add(phase["now"]))
    method.train_step(torch.randn(8, 1, 12, 12), torch.arange(8))
    for name, who in seen.items():
        part = "head" if name.startswith("head.") else f"block {name.split('.')[1]}"
        assert who == {part}, (name, who)
    assert len(seen) == len(list(net.parameters()))


def test_dcl_train_with_net_runs_the_engine_and_resumes(tmp_path):
    torch.manual_seed(0)
    net = named_split(TinyResNet())
    data = random_dataset("mnist", n_train=64, n_test=32)
    # random_dataset gives 28x28 MNIST-shaped data: this 12x12 network does not fit it
    with pytest.raises(DCLError, match=r"takes inputs \(1, 12, 12\)"):
        dcl.train(TrainConfig(data="mnist", epochs=1, batch_size=32), net=net, dataset=data)
    seq = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    net = make_local(seq, split_after=[2], in_shape=(1, 28, 28), segments=[4])
    cfg = TrainConfig(data="mnist", method="dcl", epochs=1, batch_size=32, eval_batch_size=32)
    s = dcl.train(cfg, tmp_path, net=net, dataset=data)
    assert s["arch"] == "custom" and s["epochs"] == 1 and len(s["layer_test_errors"]) == 1
    assert s["delta_params"] == 10 * 16 and s["params"] == count_params(seq) + 160
    s2 = dcl.train(cfg.replace(epochs=2), tmp_path, net=net, dataset=data, resume=True)
    assert s2["epochs"] == 2


def test_user_mistakes_are_dcl_errors():
    seq = small_cnn()
    cases = [
        (lambda: make_local(seq, split_after=[4, 2], in_shape=(3, 16, 16)), "increasing"),
        (lambda: make_local(seq, split_after=[11], in_shape=(3, 16, 16)), r"\[0, 10\]"),
        (lambda: make_local(seq, split_after=[], in_shape=(3, 16, 16)), "at least one"),
        (lambda: make_local(TinyResNet(), split_after=[1], in_shape=(1, 12, 12)), "nn.Sequential"),
        (lambda: make_local(seq, split_after=[2], blocks=["0"], head="11", in_shape=(3, 16, 16)), "not both"),
        (lambda: make_local(TinyResNet(), blocks=["layer9"], head="fc", in_shape=(1, 12, 12)), "layer9.*conv1, bn1"),
        (lambda: make_local(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), Tokens()), split_after=[0],
                            in_shape=(3, 16, 16)), "head must output logits"),
        (lambda: make_local(seq, split_after=[2, 4, 7, 10], in_shape=(1, 16, 16)), "block 1 failed"),
        (lambda: make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16), num_classes=7), "num_classes=7"),
        (lambda: make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16), segments=[None, None, None, 5]),
         "divisor of F=32"),
        (lambda: make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16), layouts={0: "flat"}), "2-D"),
        (lambda: make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16), layouts={0: "grid"}),
         "unknown layout 'grid'"),
        (lambda: make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16), segments=[2, None, None, None]),
         "only apply to flat"),
        (lambda: make_local(seq, split_after=[2, 4, 7, 10], in_shape=(3, 16, 16), layouts=["map"]), "one entry per block"),
        (lambda: make_local(seq, split_after=[2], in_shape="3x16x16"), "in_shape"),
        (lambda: make_local(TinyResNet(), blocks=["layer1"], head="fc", in_shape=(1, 12, 12)), "strict=False"),
    ]
    for make, needle in cases:
        with pytest.raises(DCLError, match=needle):
            make()


def test_shared_parameters_and_strict():
    shared = nn.Conv2d(8, 8, 3, padding=1)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), shared, shared, nn.Flatten(), nn.Linear(8 * 36, 10))
    with pytest.raises(DCLError, match="in both block 2 and block 3"):
        make_local(model, split_after=[0, 1, 2], in_shape=(1, 6, 6))
    # leaving parts out is allowed when asked for: only the named parts are kept
    m = TinyResNet()
    net = make_local(m, blocks=[["conv1", "bn1", "relu"]], head=["avgpool", nn.Flatten(), nn.Linear(8, 10)],
                     in_shape=(1, 12, 12), strict=False)
    assert len(net.blocks) == 1 and net.num_classes == 10
