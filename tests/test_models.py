"""FC and Conv networks: parameter counts equal REFERENCE.md (BP / with dictionary)."""
import pytest
import torch

from dcl import resolve_config
from dcl.methods import build_method
from dcl.models import build_model, count_params
from tiny import spec_of


@pytest.mark.parametrize("preset, in_shape, z, bp, with_dict", [
    ("fc-mnist", (1, 28, 28), 10, 1_867_786, 1_869_066),
    ("fc-cifar10", (3, 32, 32), 10, 18_923_530, 18_924_170),
    ("conv-mnist", (1, 28, 28), 10, 151_562, 154_122),
    ("conv-cifar10", (3, 32, 32), 10, 152_714, 155_274),
])
def test_parameter_counts(preset, in_shape, z, bp, with_dict):
    cfg = resolve_config(preset=preset)
    net = build_model(cfg, spec_of(in_shape, z))
    assert count_params(net) == bp
    method = build_method(net, cfg.replace(method="dcl"))
    assert count_params(net) + count_params(method.aux) == with_dict
    static = build_method(net, cfg.replace(method="dcl-s"))
    assert count_params(static.aux) == 0  # a static dictionary is not a trained parameter


def test_fc_cifar100_dictionary_shape():
    cfg = resolve_config(preset="fc-cifar100")
    net = build_model(cfg, spec_of((3, 32, 32), 100))
    assert count_params(net) == 19_200_100  # REFERENCE-FL.md: DCL FC-C100
    method = build_method(net, cfg)
    assert tuple(method.dictionary.weight.shape) == (100, 256)


def test_conv_cifar100_three_conv_net_and_forward_shapes():
    cfg = resolve_config(preset="conv-cifar100")
    net = build_model(cfg, spec_of((3, 32, 32), 100))
    method = build_method(net, cfg)
    assert tuple(method.dictionary.weight.shape) == (100, 512)
    h = torch.randn(2, 3, 32, 32)
    shapes = []
    for b in net.blocks:
        h = b(h)
        shapes.append(tuple(h.shape))
    assert shapes == [(2, 64, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8)]
    assert net.head(h).shape == (2, 100)
