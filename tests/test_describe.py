"""``dcl describe`` and dcl.analysis.describe: modules, shapes, K, parameters, Δθ; no data on disk."""
import json

import pytest
import torch
from torch import nn

from dcl.cli import main
from dcl.data import DATASETS
from dcl.analysis import describe
from dcl.models import make_local




def test_vgg8b_mnist_modules_shapes_and_k():
    d = describe("vgg8b", "mnist", "dcl")
    assert (d["arch"], d["data"], d["method"], d["preset"]) == ("vgg8b", "mnist", "dcl", "vgg8b-mnist")
    assert d["in_shape"] == [1, 28, 28] and d["num_classes"] == 10
    assert (d["params_network"], d["delta_params"], d["params"]) == (7_328_266, 5120, 7_333_386)
    assert d["dictionary"] == [10, 512] and d["dictionaries"][0]["trainable"] is True and d["local"] is True
    mods = d["modules"]
    assert [m["name"] for m in mods] == [f"block {i}" for i in range(1, 8)] + ["head"]
    assert [m["output_shape"] for m in mods] == [[128, 28, 28], [256, 14, 14], [256, 14, 14], [512, 7, 7],
                                                [512, 3, 3], [512, 1, 1], [1024], [10]]
    assert [m["K"] for m in mods[:-1]] == [784, 196, 196, 49, 9, 1, 2]
    assert [m["C"] for m in mods[:-1]] == [128, 256, 256, 512, 512, 512, 512]
    assert mods[-1]["layout"] is None and mods[-1]["layers"] == "Linear(1024->10)"
    assert sum(m["params"] for m in mods) == d["params_network"]
    assert mods[1]["layers"] == "Conv3x3(128->256) -> BN -> ReLU -> MaxPool2 -> Dropout2d(0.1)"


def test_methods_change_delta_params_not_the_network():
    bp = describe("resnet32", "fashion-mnist", "bp")
    s = describe("resnet32", "fashion-mnist", "dcl-s")
    a = describe("resnet32", "fashion-mnist", "dcl", dict_dim=128)   # an override, like --set
    assert bp["params_network"] == s["params_network"] == a["params_network"]
    assert (bp["delta_params"], bp["dictionary"], bp["local"]) == (0, None, False)
    assert (s["delta_params"], s["dictionary"], s["dictionaries"][0]["trainable"]) == (0, [10, 64], False)
    assert (a["delta_params"], a["dictionary"]) == (1280, [10, 128])
    assert len(a["modules"]) == 17 and a["modules"][0]["output_shape"] == [16, 28, 28]


def test_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    describe("mlp-mixer", "mnist", "dcl")
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.skipif("cifar10" not in DATASETS, reason="the cifar10 dataset spec is not registered")
@pytest.mark.parametrize("arch, delta, n_modules, first_shape, k", [
    ("resnet32", 640, 16, [16, 32, 32], 1024),
    ("resnet32-w", 2560, 16, [64, 32, 32], 1024),
    ("vit", 5120, 6, [65, 512], 1),
    ("mlp-mixer", 5120, 6, [64, 512], 64),
    ("vgg8b", 5120, 7, [128, 32, 32], 1024),
])
def test_table_v_networks_on_cifar10(arch, delta, n_modules, first_shape, k):
    d = describe(arch, "cifar10", "dcl")
    assert d["preset"] == f"{arch}-cifar10" and d["delta_params"] == delta
    assert len(d["modules"]) == n_modules + 1
    assert d["modules"][0]["output_shape"] == first_shape and d["modules"][0]["K"] == k
    assert d["modules"][-1]["output_shape"] == [10]


def test_a_user_network():
    seq = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    net = make_local(seq, split_after=[2], in_shape=(1, 28, 28), segments=[4], name="mlp")
    d = describe(net, method="dcl")
    assert d["arch"] == "mlp" and d["data"] is None and d["in_shape"] == [1, 28, 28]
    assert d["modules"][0]["K"] == 4 and d["modules"][0]["C"] == 16 and d["dictionary"] == [10, 16]
    assert d["params"] == 784 * 64 + 64 + 650 + 160


def test_cli_text_and_json(capsys):
    assert main(["describe", "--arch", "resnet32", "--data", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "resnet32 on mnist (input 1x28x28, 10 classes), method dcl" in out
    assert "BasicBlock(16->32, stride=2)" in out and "16 blocks each with its own local loss" in out
    assert "dictionary: 10x64 (adaptive, trained)" in out
    assert "params 467,258 = network 466,618 (as under BP) + Δθ 640" in out
    assert main(["describe", "--arch", "vgg8b", "--data", "fashion-mnist", "--method", "dcl-s", "--json",
                 "--set", "dropout=0.2"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"params", "delta_params", "modules"} <= set(d)
    assert d["delta_params"] == 0 and d["params"] == 7_328_266 and d["modules"][0]["layers"].endswith("Dropout2d(0.2)")


@pytest.mark.parametrize("argv, needle", [
    (["describe", "--arch", "resnet99", "--data", "mnist"], "unknown architecture 'resnet99'"),
    (["describe", "--arch", "vit", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["describe", "--arch", "vit", "--data", "mnist", "--method", "magic"], "unknown method 'magic'"),
    (["describe", "--arch", "vit", "--data", "mnist", "--set", "colour=red"], "unknown config field 'colour'"),
])
def test_cli_user_errors_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_cli_needs_arch(capsys):
    with pytest.raises(SystemExit) as e:
        main(["describe", "--data", "mnist"])
    assert e.value.code == 2
