"""The forward-learning losses on small hand-computed cases (dcl.losses.goodness, target_projection)."""
import math

import pytest
import torch

from dcl.losses import FixedFeedback, drtp_loss, ff_loss, goodness, pff_energy_loss, symba_loss


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_goodness_sum_and_mean():
    h = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    assert goodness(h).tolist() == [5.0, 9.0]
    assert goodness(h, "mean").tolist() == [2.5, 4.5]
    maps = torch.arange(8.0).view(2, 1, 2, 2)  # sums over every non-batch dim
    assert goodness(maps).tolist() == [0 + 1 + 4 + 9, 16 + 25 + 36 + 49]
    with pytest.raises(ValueError):
        goodness(h, "max")


def test_ff_loss_hand_computed():
    # theta 3: positive G 5 -> softplus(3 - 5); negatives G 1, 6 -> softplus(1 - 3), softplus(6 - 3)
    loss = ff_loss(torch.tensor([5.0]), torch.tensor([1.0, 6.0]), 3.0)
    assert float(loss) == pytest.approx((softplus(-2) + softplus(-2) + softplus(3)) / 3)
    # = BCE with logits G - theta, targets 1 for positives, 0 for negatives
    logits = torch.tensor([5.0, 1.0, 6.0]) - 3.0
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([1.0, 0.0, 0.0]))
    assert float(loss) == pytest.approx(float(bce))


def test_symba_loss_hand_computed_and_symmetric():
    g_pos = torch.tensor([5.0, 1.0], requires_grad=True)
    g_neg = torch.tensor([3.0, 2.0], requires_grad=True)
    loss = symba_loss(g_pos, g_neg, alpha=4.0)  # deltas 2, -1
    assert float(loss.detach()) == pytest.approx((softplus(-8.0) + softplus(4.0)) / 2)
    loss.backward()
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    want = [-4 * sig(-8.0) / 2, -4 * sig(4.0) / 2]
    assert g_pos.grad.tolist() == pytest.approx(want)
    assert torch.equal(g_neg.grad, -g_pos.grad)  # the symmetric pull
    with pytest.raises(ValueError, match="pairs"):
        symba_loss(torch.ones(2), torch.ones(3))


def test_pff_energy_loss_hand_computed():
    # energies 2 and 4, theta 3 -> logits 1 (positive) and -1 (negative): both softplus(-1)
    z = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    loss = pff_energy_loss(z, torch.tensor([1.0, 0.0]), threshold=3.0)
    assert float(loss) == pytest.approx(softplus(-1.0))
    # low energy is what a positive wants: lowering it lowers the loss
    lower = pff_energy_loss(z * 0.5, torch.tensor([1.0, 1.0]), threshold=3.0)
    higher = pff_energy_loss(z * 2.0, torch.tensor([1.0, 1.0]), threshold=3.0)
    assert float(lower) < float(higher)


def test_drtp_loss_gradient_is_the_projected_target():
    fb = FixedFeedback(2, (3,), generator=torch.Generator().manual_seed(0))
    fb.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
    target = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    projected = fb(target)
    assert projected.tolist() == [[0.0, 3.0, -1.0], [1.0, -2.0, 0.5]]
    h = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.8]], requires_grad=True)
    loss = drtp_loss(h, projected)
    assert float(loss.detach()) == pytest.approx((0.6 - 0.3) + (0.4 - 1.0 + 0.4), abs=1e-6)  # summed over the batch: 0.1
    loss.backward()
    assert torch.equal(h.grad, projected)


def test_fixed_feedback_is_a_kaiming_uniform_buffer():
    fb = FixedFeedback(10, (4, 5, 5), generator=torch.Generator().manual_seed(1))
    assert fb.weight.shape == (10, 4, 5, 5) and list(fb.parameters()) == []
    assert "weight" in fb.state_dict()
    bound = math.sqrt(6 / 100)
    assert float(fb.weight.abs().max()) <= bound and float(fb.weight.abs().max()) > 0.9 * bound
    assert fb(torch.eye(10)[:3]).shape == (3, 4, 5, 5)
