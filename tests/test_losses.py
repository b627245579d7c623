"""L_dict (Eq. 2) against REFERENCE.md's test vector and hand computations."""

import pytest
import torch
import torch.nn.functional as F

from dcl.errors import DCLError
from dcl.losses import DictionaryContrastiveLoss, dict_logits, dict_loss, init_dictionary, pool_dictionary


def reference_inputs():
    torch.manual_seed(0)
    h = torch.randn(4, 8, 3, 3)
    d = torch.randn(3, 16)
    y = torch.tensor([0, 1, 2, 1])
    return h, d, y


def test_reference_vector_dot():
    h, d, y = reference_inputs()
    assert dict_loss(h, y, d).item() == pytest.approx(0.873665, abs=1e-5)
    row0 = dict_logits(h, d)[0]
    assert torch.allclose(row0, torch.tensor([-0.054817, 0.026722, -0.198820]), atol=1e-5)


def test_reference_vector_cosine():
    h, d, y = reference_inputs()
    assert dict_loss(h, y, d, similarity="cosine", temperature=0.07).item() == pytest.approx(0.834169, abs=1e-5)
    module = DictionaryContrastiveLoss(3, 16, similarity="cosine")
    with torch.no_grad():
        module.weight.copy_(d)
    assert module.temperature == 0.07
    assert module(h, y).item() == pytest.approx(0.834169, abs=1e-5)


def test_logits_are_mean_of_per_vector_dot_products_by_hand():
    torch.manual_seed(1)
    h = torch.randn(2, 4, 2, 3)  # K = 6 vectors of 4 dims
    d = torch.randn(5, 8)        # C_D = 8 -> pooled to 4 by averaging pairs
    pooled = torch.stack([(d[:, 2 * j] + d[:, 2 * j + 1]) / 2 for j in range(4)], dim=1)
    expected = torch.zeros(2, 5)
    for b in range(2):
        for z in range(5):
            dots = [torch.dot(h[b, :, i, j], pooled[z]) for i in range(2) for j in range(3)]
            expected[b, z] = sum(dots) / len(dots)
    assert torch.allclose(dict_logits(h, d), expected, atol=1e-6)
    assert torch.allclose(pool_dictionary(d, 4), pooled, atol=1e-7)


def test_flat_segments_and_tokens_agree_with_maps():
    torch.manual_seed(2)
    maps = torch.randn(3, 6, 2, 2)               # K=4 vectors of C=6
    tokens = maps.flatten(2).transpose(1, 2)      # (B, P, C): P=4 tokens of C=6
    flat = maps.flatten(2).transpose(1, 2).reshape(3, 24)  # segment k = vector k
    d = torch.randn(4, 6)
    ref = dict_logits(maps, d)
    assert torch.allclose(dict_logits(tokens, d, layout="tokens"), ref, atol=1e-6)
    assert torch.allclose(dict_logits(flat, d, segments=4), ref, atol=1e-6)
    # K=1: one vector of all 24 dims against a 24-wide dictionary
    d24 = torch.randn(4, 24)
    assert torch.allclose(dict_logits(flat, d24, segments=1), flat @ d24.t(), atol=1e-5)


def test_cosine_is_mean_of_per_vector_cosines():
    torch.manual_seed(3)
    h = torch.randn(2, 4, 1, 3)
    d = torch.randn(3, 4)
    expected = torch.zeros(2, 3)
    for b in range(2):
        for z in range(3):
            expected[b, z] = sum(F.cosine_similarity(h[b, :, 0, k], d[z], dim=0) for k in range(3)) / 3 / 0.5
    assert torch.allclose(dict_logits(h, d, similarity="cosine", temperature=0.5), expected, atol=1e-5)


def test_gradient_reaches_dictionary_through_pooling():
    h, d, y = reference_inputs()
    d = d.clone().requires_grad_(True)
    dict_loss(h, y, d).backward()
    assert d.grad is not None and d.grad.abs().sum() > 0


def test_static_dictionary_is_a_buffer_and_gets_no_gradient():
    static = DictionaryContrastiveLoss(10, 32, static=True)
    adaptive = DictionaryContrastiveLoss(10, 32)
    assert list(static.parameters()) == [] and "weight" in dict(static.named_buffers())
    assert [p.shape for p in adaptive.parameters()] == [torch.Size([10, 32])]
    h = torch.randn(4, 32, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3])
    static(h, y).backward()
    assert h.grad is not None and not static.weight.requires_grad


def test_init_normal_orthogonal_and_norm():
    g = torch.Generator().manual_seed(0)
    d = init_dictionary(10, 64, "orthogonal", norm=3.0, generator=g)
    gram = d @ d.t()
    assert torch.allclose(gram, 9.0 * torch.eye(10), atol=1e-4)
    n = init_dictionary(10, 64, "normal", norm=2.0, generator=g)
    assert torch.allclose(n.norm(dim=1), torch.full((10,), 2.0), atol=1e-5)
    raw = init_dictionary(1000, 64, "normal", generator=g)
    assert abs(raw.mean().item()) < 0.02 and abs(raw.std().item() - 1) < 0.02


def test_predict_is_argmax_of_logits():
    loss = DictionaryContrastiveLoss(3, 16)
    h, _, _ = reference_inputs()
    assert torch.equal(loss.predict(h), loss.logits(h).argmax(1))


@pytest.mark.parametrize("call, match", [
    (lambda: dict_logits(torch.randn(2, 8), torch.randn(3, 4), segments=3), "segments"),
    (lambda: dict_logits(torch.randn(2, 8, 2, 2), torch.randn(3, 4)), "narrower"),
    (lambda: dict_logits(torch.randn(2, 8, 2, 2), torch.randn(3, 8), similarity="l2"), "similarity"),
    (lambda: dict_logits(torch.randn(2, 2, 2, 2, 2), torch.randn(3, 8)), "shape"),
    (lambda: dict_loss(torch.randn(2, 8), torch.tensor([0.0, 1.0]), torch.randn(3, 8)), "integer"),
    (lambda: DictionaryContrastiveLoss(3, 8)(torch.randn(2, 8), torch.tensor([0, 3])), r"\[0, 3\)"),
    (lambda: init_dictionary(10, 4, "orthogonal"), "Z <= C_D"),
    (lambda: init_dictionary(10, 4, "uniform"), "normal, orthogonal"),
])
def test_bad_inputs_raise_dcl_error(call, match):
    with pytest.raises(DCLError, match=match):
        call()


def test_token_tensors_name_their_layout_and_are_never_misread():
    # (B, P, C) with P=8 tokens of C=16 dims against a 16-wide dictionary: read as (B, C, P) it would
    # silently pool the dictionary to 8 dims; now a 3-D tensor must say layout="tokens"
    torch.manual_seed(3)
    tokens, d = torch.randn(2, 8, 16), torch.randn(5, 16)
    y = torch.tensor([1, 4])
    with pytest.raises(DCLError, match=r"3-D: pass layout='tokens' for \(B, P, C\)"):
        dict_logits(tokens, d)
    expected = tokens.mean(dim=1) @ d.t()                      # mean over the P tokens, then <h, t_z>
    assert torch.allclose(dict_logits(tokens, d, layout="tokens"), expected, atol=1e-5)
    loss_fn = DictionaryContrastiveLoss(num_classes=5, dim=16)
    with torch.no_grad():
        loss_fn.weight.copy_(d)
    assert torch.allclose(loss_fn(tokens, y, layout="tokens"), F.cross_entropy(expected, y), atol=1e-5)
    with pytest.raises(DCLError, match="layout='tokens'"):
        loss_fn(tokens, y)
    with pytest.raises(DCLError, match="layout 'tokens' needs a 3-D tensor"):
        dict_logits(torch.randn(2, 16), d, layout="tokens")
