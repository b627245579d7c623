"""Parameter counts of the forward-learning baselines on their paper networks (REFERENCE-FL §0),
by kind: trainable, frozen random, fixed feedback (``dcl describe``; no data on disk)."""
import pytest

from dcl.cli import main
from dcl.cli.describe import format_description
from dcl.analysis import describe


@pytest.fixture(scope="module")
def pff_mnist():
    return describe("pff", "mnist", "pff")   # 23M parameters with orthogonal init: built once


@pytest.mark.parametrize("method, arch, data, preset, trainable, frozen, feedback", [
    ("ff", "fc", "mnist", "ff-fc-mnist", 1_867_786, 0, 0),
    ("ff", "fc", "cifar10", "ff-fc-cifar10", 18_923_530, 0, 0),
    ("ff", "fc", "cifar100", "ff-fc-cifar100", 19_200_100, 0, 0),
    ("symba", "fc", "mnist", "symba-fc-mnist", 1_867_786, 0, 0),
    ("symba", "fc", "cifar10", "symba-fc-cifar10", 18_923_530, 0, 0),
    ("cafo", "cafo", "cifar10", "cafo-cafo-cifar10", 245_760, 629_568, 0),  # DCL prints 243K
    ("cafo", "cafo", "cifar100", "cafo-cafo-cifar100", 2_457_600, 629_568, 0),
    ("cafo", "cafo", "mnist", "cafo-cafo-mnist", 171_520, 628_992, 0),     # DCL prints 243K
    ("drtp", "drtp-fc", "mnist", "drtp-drtp-fc-mnist", 1_796_010, 0, 20_000),
    ("drtp", "drtp-fc", "cifar10", "drtp-drtp-fc-cifar10", 4_084_010, 0, 20_000),
    ("drtp", "drtp-conv", "mnist", "drtp-drtp-conv-mnist", 6_283_842, 0, 10 * 32 * 28 * 28 + 10_000),
    ("drtp", "drtp-conv", "cifar10", "drtp-drtp-conv-cifar10", 16_395_010, 149_504,
     10 * (64 * 32 * 32 + 256 * 16 * 16 + 1000)),
])
def test_paper_network_counts(method, arch, data, preset, trainable, frozen, feedback):
    d = describe(arch, data, method)
    assert d["preset"] == preset
    assert (d["params_trainable"], d["params_frozen"], d["params_feedback"]) == (trainable, frozen, feedback)
    assert d["params"] == trainable and d["delta_params"] == 0


def test_drtp_cifar100_as_replicated_counts_the_feedback_too():
    d = describe("drtp-conv", "cifar100", "drtp", preset="drtp-drtp-conv-cifar100-fc2000")
    assert d["params_trainable"] + d["params_frozen"] == 33_119_604
    assert d["params_feedback"] == 13_307_200
    assert d["params_trainable"] + d["params_frozen"] + d["params_feedback"] == 46_426_804   # DCL prints 46.4M


def test_pff_counts_with_and_without_the_generative_circuit(pff_mnist):
    d = pff_mnist
    assert d["preset"] == "pff-pff-mnist"
    assert (d["params_trainable"], d["params_frozen"], d["params_feedback"]) == (23_220_010, 0, 0)  # DCL: 23.0M
    parts = {m["name"]: m["params"] for m in d["modules"]}
    assert parts == {"block 1": 9_570_000, "block 2": 8_022_000, "head": 20_010, "generator": 5_608_000}
    assert d["params"] - parts["generator"] == 17_612_010     # the representation circuit alone
    text = format_description(d)
    assert "generator" in text and "5,608,000" in text and "2 blocks each with its own local loss" in text
    assert "params 23,220,010 = network 23,220,010" in text


def test_describe_shows_the_kinds_and_every_part(capsys):
    assert main(["describe", "--arch", "cafo", "--data", "cifar10", "--method", "cafo"]) == 0
    out = capsys.readouterr().out
    assert "by kind: trainable 245,760, frozen random 629,568, fixed feedback 0" in out
    assert "side_heads" in out and "163,840" in out and "frozen" in out.splitlines()[1]
    assert main(["describe", "--arch", "drtp-fc", "--data", "mnist", "--method", "drtp"]) == 0
    assert "by kind: trainable 1,796,010, frozen random 0, fixed feedback 20,000" in capsys.readouterr().out
