"""The local-learning baselines' losses on small hand-computed cases: SupCon (Eq. 1), similarity
matching, LL-bpf's binary code target and feedback alignment, the N&E pooling rule, InfoPro's
decoder, and the class-limited batch order."""
import math

import pytest
import torch
import torch.nn.functional as F

from dcl.data.sampler import class_limited_order
from dcl.errors import DCLError
from dcl.losses.feedback import LabelProjection, LinearFA, binary_code_loss, binary_code_scores, binary_code_targets
from dcl.losses.reconstruction import ImageDecoder
from dcl.losses.similarity import label_similarity, similarity_matching_loss, similarity_matrix
from dcl.losses.supcon import pooled_features, supcon_loss
from dcl.methods.ll_aux import aux_input, aux_input_width, pool_grid, std_reduce

# four 2-D features, normalised: a1 = (1, 0), a2 = (0, 1), a3 = (1, 0), a4 = (-1, 0)
FOUR = torch.tensor([[3.0, 0.0], [0.0, 0.5], [1.0, 0.0], [-2.0, 0.0]])
D = math.log(1 + math.e + 1 / math.e)  # log sum_k exp(a_i.a_k) for anchors 1 and 3 at tau = 1


def test_supcon_on_four_samples_by_hand():
    # labels 0, 0, 1, 1: every anchor has one positive, so both averages agree.
    # anchor 1: -(0 - D); anchor 2: logits 0, 0, 0 -> log 3; anchor 3: -(-1 - D); anchor 4: logits
    # -1, 0, -1 and positive a3 (logit -1) -> 1 + log(1 + 2/e)
    y = torch.tensor([0, 0, 1, 1])
    expected = (2 * D + math.log(3) + 2 + math.log(1 + 2 / math.e)) / 4
    for average in ("anchor", "pairs"):
        assert supcon_loss(FOUR, y, temperature=1.0, average=average).item() == pytest.approx(expected, rel=1e-6)


def test_supcon_per_anchor_and_pair_averages_differ_with_unbalanced_classes():
    # labels 0, 0, 0, 1: anchor 4 has no positive (0 in the per-anchor mean over all 4 anchors)
    y = torch.tensor([0, 0, 0, 1])
    anchor = (2 * D + math.log(3) - 1) / 4          # -(1/4) [(1-2D)/2 - log 3 + (1-2D)/2 + 0]
    pairs = (4 * D + 2 * math.log(3) - 2) / 6       # -(1/6) [2(1-D) - 2D - 2 log 3] over 6 pairs
    assert supcon_loss(FOUR, y, 1.0, "anchor").item() == pytest.approx(anchor, rel=1e-6)
    assert supcon_loss(FOUR, y, 1.0, "pairs").item() == pytest.approx(pairs, rel=1e-6)


def test_supcon_matches_the_definition_at_tau_007():
    torch.manual_seed(0)
    z, y = torch.randn(6, 5), torch.tensor([0, 1, 0, 2, 1, 0])
    a = F.normalize(z, dim=1)
    total = 0.0
    for i in range(6):  # straight from Eq. 1, per anchor
        others = [k for k in range(6) if k != i]
        log_den = torch.logsumexp(torch.stack([a[i] @ a[k] / 0.07 for k in others]), 0)
        pos = [j for j in others if y[j] == y[i]]
        if pos:
            total += sum(-(a[i] @ a[j] / 0.07 - log_den) for j in pos) / len(pos)
    assert supcon_loss(z, y).item() == pytest.approx(float(total) / 6, rel=1e-5)


def test_supcon_without_positives_is_zero_and_bad_input_is_a_user_error():
    assert supcon_loss(torch.randn(3, 4), torch.tensor([0, 1, 2])).item() == 0.0
    with pytest.raises(DCLError, match="average"):
        supcon_loss(FOUR, torch.tensor([0, 0, 1, 1]), average="mean")
    with pytest.raises(DCLError, match="features"):
        supcon_loss(torch.randn(4, 2, 2), torch.tensor([0, 0, 1, 1]))


def test_pooled_features_average_positions_and_tokens():
    h = torch.arange(16.0).view(1, 2, 2, 4)
    assert torch.equal(pooled_features(h), torch.tensor([[3.5, 11.5]]))
    tokens = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])  # (B, P, C)
    assert torch.equal(pooled_features(tokens), torch.tensor([[2.0, 4.0]]))


def test_similarity_matrix_of_a_one_hot_batch():
    y = torch.tensor([0, 1, 0, 2])
    s = label_similarity(y, 3)
    same = y.unsqueeze(0) == y.unsqueeze(1)
    expected = torch.where(same, torch.tensor(1.0), torch.tensor(-0.5))  # -1/(Z-1)
    assert torch.allclose(s, expected, atol=1e-6)
    s10 = label_similarity(torch.tensor([3, 7]), 10)
    assert s10[0, 1].item() == pytest.approx(-1 / 9, abs=1e-6)


def test_similarity_matching_loss_by_hand():
    # rows (1, 0) and (0, 1): centred (0.5, -0.5), (-0.5, 0.5): correlation -1; target all ones
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(similarity_matrix(x), torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), atol=1e-6)
    assert similarity_matching_loss(x, torch.ones(2, 2)).item() == pytest.approx(2.0, abs=1e-6)  # (0+4+4+0)/4


def test_bpf_binary_code_target_and_loss_by_hand():
    proj = LabelProjection(3, 4)
    proj.weight.copy_(torch.tensor([[0.5, -1.0, 0.0], [-0.2, 0.3, 0.1], [1.0, 1.0, -1.0], [0.0, -0.1, 2.0]]))
    y = torch.tensor([1, 2])
    code = proj(y)
    assert torch.equal(code, torch.tensor([[-1.0, 0.3, 1.0, -0.1], [0.0, 0.1, -1.0, 2.0]]))
    assert torch.equal(binary_code_targets(code), torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]))
    logits = torch.tensor([[0.0, 2.0, -1.0, 0.0], [1.0, 0.0, 0.0, 3.0]])
    t = binary_code_targets(code)
    by_hand = -(t * torch.log(torch.sigmoid(logits)) + (1 - t) * torch.log(1 - torch.sigmoid(logits))).mean()
    assert binary_code_loss(logits, code).item() == pytest.approx(by_hand.item(), rel=1e-6)
    # layer-wise scores: the class whose code is most likely; a perfect logit pattern picks it
    codes = binary_code_targets(proj.weight.t())
    scores = binary_code_scores(10 * (2 * codes - 1), codes)
    assert torch.equal(scores.argmax(1), torch.arange(3))


def test_linear_fa_sends_the_error_back_through_the_fixed_matrix():
    torch.manual_seed(0)
    layer = LinearFA(4, 3)
    assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0
    assert layer.feedback.abs().max() <= 1 / math.sqrt(4)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 4))
        layer.bias.copy_(torch.randn(3))
    x = torch.randn(5, 4, requires_grad=True)
    g = torch.randn(5, 3)
    out = layer(x)
    assert torch.allclose(out, x @ layer.weight.t() + layer.bias)
    out.backward(g)
    assert torch.allclose(x.grad, g @ layer.feedback)
    assert not torch.allclose(x.grad, g @ layer.weight, atol=1e-3)  # never W^T
    assert torch.allclose(layer.weight.grad, g.t() @ x.detach())
    assert torch.allclose(layer.bias.grad, g.sum(0))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]  # the feedback is a buffer


def test_pool_grid_follows_the_n_and_e_grids():
    # 32 px, A = 2048: 4x4, 2x4, 2x4 (256 ch), 2x2 (512 ch); 28 px, A = 1024: 2x4, 2x2, 1x2
    assert [pool_grid(c, 2048) for c in (128, 256, 512)] == [(4, 4), (2, 4), (2, 2)]
    assert [pool_grid(c, 1024) for c in (128, 256, 512)] == [(2, 4), (2, 2), (1, 2)]
    assert pool_grid(512, 4096) == (2, 4) and pool_grid(64, None) is None and pool_grid(2048, 1024) is None
    h = torch.arange(2 * 128 * 9 * 9, dtype=torch.float32).view(2, 128, 9, 9)
    assert aux_input(h, 1024).shape == (2, 1024) == (2, aux_input_width((128, 9, 9), 1024))
    assert aux_input(h, None).shape == (2, 128)
    up = torch.randn(2, 512, 3, 3)  # a grid wider than the map (28 px block 6 at A = 4096)
    assert aux_input(up, 4096).shape == (2, 4096)
    assert aux_input(torch.randn(2, 5, 8), 1024).shape == (2, 8) and aux_input(torch.randn(2, 7), 64).shape == (2, 7)


def test_std_reduce_is_the_per_channel_std_over_positions():
    h = torch.randn(3, 8, 4, 4)
    assert torch.allclose(std_reduce(h), h.flatten(2).std(dim=2))
    assert std_reduce(torch.randn(3, 8, 1, 4)).shape == (3, 32)  # H = 1: flattened
    assert std_reduce(torch.randn(3, 16)).shape == (3, 16)


def test_infopro_decoder_size_and_reconstruction_loss():
    rgb, grey = ImageDecoder((256, 16, 16), (3, 32, 32)), ImageDecoder((128, 28, 28), (1, 28, 28))
    assert sum(p.numel() for p in rgb.parameters()) == 108 * 256 + 363
    assert sum(p.numel() for p in grey.parameters()) == 108 * 128 + 145
    image = torch.rand(2, 3, 32, 32)
    out = rgb(torch.randn(2, 256, 16, 16))
    assert out.shape == (2, 3, 32, 32)
    assert rgb.loss(torch.randn(2, 256, 16, 16), image).item() > 0
    assert ImageDecoder((65, 32), (3, 32, 32))(torch.randn(2, 65, 32)).shape == (2, 3, 32, 32)  # ViT tokens
    flat = ImageDecoder((64,), (1, 28, 28))
    assert flat(torch.randn(2, 64)).shape == (2, 1, 28, 28)


def test_class_limited_order_is_a_seeded_permutation_of_limited_batches():
    labels = torch.arange(1000) % 10  # 100 per class: a batch of 100 fits in its seeds' classes
    order = class_limited_order(labels, 100, 5, torch.Generator().manual_seed(3))
    assert sorted(order.tolist()) == list(range(1000))
    again = class_limited_order(labels, 100, 5, torch.Generator().manual_seed(3))
    assert torch.equal(order, again)
    first = order[:100]
    assert labels[first].unique().numel() <= 5  # 5 seeds, the rest of the batch from their classes
    assert set(labels[first].tolist()) == set(labels[first[:5]].tolist())
    other = class_limited_order(labels, 100, 5, torch.Generator().manual_seed(4))
    assert not torch.equal(order, other)
