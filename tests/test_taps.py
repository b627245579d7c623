"""Read-out points inside blocks (Tap), the network fidelity options, and the method hooks
(feature_tap, predict_batch, optimizer_step) that every method builds on."""
import pytest
import torch
from torch import nn

from dcl.config import TrainConfig
from dcl.errors import DCLError
from dcl.evaluate import BatchPredictions, Scores, collect_scores, errors, prediction_choices, prediction_scores
from dcl.methods import build_method
from dcl.models import build_model
from dcl.models.layers import Tap
from tiny import MNIST, spec_of


def test_vgg8b_act_tap_is_the_pre_pool_pre_dropout_activation():
    cfg = TrainConfig(arch="vgg8b", dropout=0.5)
    torch.manual_seed(0)
    net = build_model(cfg, spec_of((3, 32, 32), 10)).train()
    x = torch.randn(4, 3, 32, 32)
    h = net.blocks[0](x).detach()
    torch.manual_seed(1)
    out, feat = net.block_forward(1, h, "act")
    assert feat.shape == (4, 256, 32, 32) and out.shape == (4, 256, 16, 16)
    # by hand: conv -> bn -> relu is the tap; the output is pool then channel dropout of it
    block = net.blocks[1]
    torch.manual_seed(1)
    ref_feat = torch.relu(block[1](block[0](h)))
    assert torch.allclose(feat, ref_feat, atol=1e-6)
    dropped = (out.flatten(2).abs().sum(2) == 0)  # whole channels are zero, the rest scaled by 2
    pooled = nn.functional.max_pool2d(ref_feat, 2)
    kept = ~dropped
    assert dropped.any() and kept.any()
    assert torch.allclose(out[kept], 2 * pooled[kept], atol=1e-5)
    # one pass, one graph: a loss on the tap trains the conv
    feat.sum().backward()
    assert block[0].weight.grad is not None


@pytest.mark.parametrize("arch, shape", [("fc", (1, 28, 28)), ("conv", (1, 28, 28)), ("vgg8b", (1, 28, 28))])
def test_without_a_tap_the_feature_is_the_output(arch, shape):
    cfg = TrainConfig(arch=arch, width=64, segments=4, channels=(8, 16))
    net = build_model(cfg, spec_of(shape, 10)).eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        out, feat = net.block_forward(0, x)
        assert feat is out
        out2, feat2 = net.block_forward(0, x, "no-such-tap")
        assert feat2 is out2 and torch.equal(out2, out)
        out3, feat3 = net.block_forward(0, x, "act")  # eval: dropout is identity; pool may follow
        assert torch.equal(out3, out)


def test_fc_head_relu_option_and_conv_channel_dropout():
    plain = build_model(TrainConfig(arch="fc", width=64, segments=4), MNIST)
    relu = build_model(TrainConfig(arch="fc", width=64, segments=4, head_relu=True), MNIST)
    assert not any(isinstance(m, nn.ReLU) for m in plain.head)
    assert isinstance(relu.head[-1], nn.ReLU)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in relu.parameters())
    conv = build_model(TrainConfig(arch="conv", channels=(8, 16), dropout=0.3), MNIST)
    assert all(isinstance(b[-1], nn.Dropout2d) and b[-1].p == 0.3 for b in conv.blocks)
    conv.train()
    with torch.no_grad():
        out = conv.blocks[0](torch.randn(8, 1, 28, 28))
    zero_channels = (out.flatten(2).abs().sum(2) == 0).float().mean()
    assert 0.05 < float(zero_channels) < 0.7  # whole channels dropped (p = 0.3)


def test_activation_option_builds_leaky_relu():
    net = build_model(TrainConfig(arch="vgg8b", activation="leaky_relu"), MNIST)
    fused = net.blocks[0][1]  # lean layers (default): BN -> LeakyReLU as one layer
    assert (fused.activation, fused.negative_slope) == ("leaky_relu", 0.01)
    plain = build_model(TrainConfig(arch="vgg8b", activation="leaky_relu", lean_layers=False), MNIST)
    assert isinstance(plain.blocks[0][2], nn.LeakyReLU) and plain.blocks[0][2].negative_slope == 0.01
    _, feat = net.block_forward(0, torch.randn(4, 1, 28, 28), "act")
    assert (feat < 0).any()  # the tap sees the leaky activation
    with pytest.raises(DCLError, match="activation"):
        from dcl.config import validate_config
        validate_config(TrainConfig(activation="swish"))


def test_taps_do_not_change_parameter_names():
    net = build_model(TrainConfig(arch="vgg8b"), spec_of((3, 32, 32), 10))
    names = [n for n, _ in net.named_parameters()]
    assert "blocks.0.0.weight" in names and "blocks.6.1.weight" in names and "blocks.6.2.weight" in names
    assert sum(isinstance(m, Tap) for m in net.modules()) == 7


class _TapLossMethod:
    """A local method whose loss reads the 'act' tap (a stand-in for the N&E methods)."""


def test_local_method_reads_its_feature_tap_and_steps_through_optimizer_step():
    from dcl.methods.dcl import StaticDCL

    seen = []

    class TapDCL(StaticDCL):
        feature_tap = "act"

        def block_loss(self, i, h, y):
            seen.append(tuple(h.shape))
            return h.float().pow(2).mean()

    steps = []

    class Counting(TapDCL):
        def sync_gradients(self, opt):
            steps.append(opt)

    cfg = TrainConfig(arch="vgg8b", method="dcl-s", batch_size=4)
    torch.manual_seed(0)
    net = build_model(cfg, MNIST)
    m = Counting(net, cfg)
    m.train_step(torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,)))
    assert seen[1] == (4, 256, 28, 28)  # pre-pool activation of block 2 (its output is 14x14)
    assert seen[-1] == (4, 1024)
    assert len(steps) == len(net.blocks) + 1  # every block and the head step through optimizer_step


def test_predict_batch_default_and_extra_modes_reach_scores():
    cfg = TrainConfig(arch="fc", method="dcl", width=64, segments=4)
    torch.manual_seed(0)
    net = build_model(cfg, MNIST)
    method = build_method(net, cfg)

    class Extra(type(method)):
        extra_predictions = ("twice",)
        default_prediction = "twice"

        def predict_batch(self, x, on_block=None):
            out = super().predict_batch(x, on_block)
            out.extra["twice"] = -out.head  # a mode that disagrees with the head
            return out

    m = Extra(net, cfg)
    x, y = torch.randn(20, 1, 28, 28), torch.randint(0, 10, (20,))
    scores = collect_scores(net, m, [(x[:10], y[:10]), (x[10:], y[10:])])
    assert scores.default == "twice" and scores.extra["twice"].shape == (20, 10)
    assert len(scores.blocks) == 2
    assert "twice" in prediction_choices(2, scores.extra)
    res = errors(scores)
    assert res["prediction"] == "twice"
    assert res["test_error"] == res["prediction_errors"]["twice"]
    assert torch.equal(prediction_scores(scores, "twice"), -scores.head)
    with pytest.raises(DCLError, match="twice"):
        prediction_scores(scores, "goodness")


def test_scores_without_a_head():
    labels = torch.tensor([0, 1, 1])
    s = torch.eye(2)[labels]
    scores = Scores(labels=labels, head=None, blocks=[], extra={"sum": s}, default="sum")
    assert errors(scores)["test_error"] == 0.0
    with pytest.raises(DCLError):
        prediction_scores(scores, "head")
    assert BatchPredictions(head=None).blocks == []


def test_a_method_recipe_preset_is_preferred_over_the_pair_preset():
    from dcl.config import PRESETS, find_preset, resolve_config

    assert find_preset("fc", "mnist", "dcl") == "fc-mnist"
    assert find_preset("fc", "kmnist", "dcl") is None
    PRESETS.register("test-method-fc-mnist", {"method": "dcl-s", "lr": 1e-3})
    try:
        assert find_preset("fc", "mnist", "test-method") == "test-method-fc-mnist"
        cfg = resolve_config(arch="fc", data="mnist", method="dcl-s")
        assert cfg.preset == "fc-mnist" and cfg.lr == 5e-4
    finally:
        PRESETS._entries.pop("test-method-fc-mnist")
