"""The RL loss against a hand computation on a fixed tiny batch."""

import math

import pytest
import torch

from repro.errors import ReproError
from repro.trainer.loss import LossOptions, aggregate, clipped_surrogate, entropy_from_logprobs, k3_kl, policy_loss

# two rows: row 0 has 3 real tokens, row 1 has 2 (last position is padding)
LOGPROBS = torch.tensor([[-1.0, -0.5, -2.0], [-0.1, -3.0, -9.0]])
OLD = torch.tensor([[-1.5, -0.5, -1.0], [-2.0, -1.0, 0.0]])
REF = torch.tensor([[-1.2, -0.7, -1.9], [-0.3, -2.5, 0.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
ADV = torch.tensor([2.0, -1.5])


def hand_surrogate(lp: float, old: float, a: float, eps: float = 0.2, c: float = 3.0) -> float:
    r = math.exp(lp - old)
    loss = max(-a * r, -a * min(max(r, 1 - eps), 1 + eps))
    return min(loss, -a * c) if a < 0 else loss


def hand_k3(lp: float, ref: float) -> float:
    return math.exp(ref - lp) - (ref - lp) - 1


def test_loss_matches_hand_computation():
    opts = LossOptions(kl_coef=0.01, entropy_coef=0.0)
    terms = policy_loss(LOGPROBS, OLD, ADV, MASK, opts, ref_logprobs=REF)
    tokens = [(i, j) for i in range(2) for j in range(3) if MASK[i, j]]
    pg = sum(hand_surrogate(LOGPROBS[i, j].item(), OLD[i, j].item(), ADV[i].item()) for i, j in tokens) / 5
    kl = sum(hand_k3(LOGPROBS[i, j].item(), REF[i, j].item()) for i, j in tokens) / 5
    assert terms.policy_loss.item() == pytest.approx(pg, rel=1e-6)
    assert terms.kl.item() == pytest.approx(kl, rel=1e-6)
    assert terms.loss.item() == pytest.approx(pg + 0.01 * kl, rel=1e-6)


def test_each_clip_regime_on_its_own_token():
    # A>0, r = e^0.5 > 1.2: clipped to 1.2; A<0, r = e^1.9 ≈ 6.7: dual-clip caps −A·r at 3·|A|;
    # A<0, r = e^-2: PPO clip keeps −A·0.8; padding ignored.
    loss, clipped = clipped_surrogate(LOGPROBS, OLD, ADV.unsqueeze(-1), 0.2, 0.2, 3.0)
    assert loss[0, 0].item() == pytest.approx(-2.0 * 1.2)
    assert loss[1, 0].item() == pytest.approx(1.5 * 3.0)
    assert loss[1, 1].item() == pytest.approx(1.5 * 0.8)
    assert loss[0, 1].item() == pytest.approx(-2.0)  # r = 1: untouched
    assert clipped[0].tolist() == [1.0, 0.0, 0.0] and clipped[1, :2].tolist() == [1.0, 1.0]
    no_dual, _ = clipped_surrogate(LOGPROBS, OLD, ADV.unsqueeze(-1), 0.2, 0.2, 0.0)
    assert no_dual[1, 0].item() == pytest.approx(1.5 * math.exp(1.9), rel=1e-6)


def test_gradient_only_through_current_logprobs():
    lp = LOGPROBS.clone().requires_grad_(True)
    terms = policy_loss(lp, OLD, ADV, MASK, LossOptions(kl_coef=0.0, entropy_coef=0.0))
    terms.loss.backward()
    # clipped tokens and padding get no gradient; the unclipped A>0 token at ratio 1 gets −A/5
    assert lp.grad[0, 0].item() == 0.0 and lp.grad[1, 2].item() == 0.0 and lp.grad[1, 0].item() == 0.0
    assert lp.grad[0, 1].item() == pytest.approx(-2.0 / 5)


def test_k3_is_zero_at_equality_and_positive_elsewhere():
    assert torch.all(k3_kl(LOGPROBS, LOGPROBS) == 0)
    assert torch.all(k3_kl(LOGPROBS, REF) >= 0)


def test_aggregations_and_normaliser():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 100.0]])
    assert aggregate(values, MASK, "token-mean").item() == pytest.approx(15 / 5)
    assert aggregate(values, MASK, "seq-mean-token-mean").item() == pytest.approx((2.0 + 4.5) / 2)
    # two micro-batches normalised by the whole batch's token count sum to the batch token-mean
    halves = sum(aggregate(values[i:i + 1], MASK[i:i + 1], "token-mean", normaliser=5.0) for i in range(2))
    assert halves.item() == pytest.approx(aggregate(values, MASK).item())


def test_entropy_of_uniform_and_peaked_logits():
    uniform = entropy_from_logprobs(torch.log_softmax(torch.zeros(1, 8), -1))
    assert uniform.item() == pytest.approx(math.log(8), rel=1e-6)
    assert entropy_from_logprobs(torch.log_softmax(torch.tensor([[100.0, 0.0, 0.0]]), -1)).item() == pytest.approx(0.0, abs=1e-6)
    two = torch.log(torch.tensor([[0.25, 0.75]]))
    assert entropy_from_logprobs(two).item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), rel=1e-6)


def test_entropy_bonus_lowers_the_loss():
    ent = torch.full_like(LOGPROBS, 2.0)
    with_bonus = policy_loss(LOGPROBS, OLD, ADV, MASK, LossOptions(kl_coef=0, entropy_coef=0.1), entropy=ent)
    without = policy_loss(LOGPROBS, OLD, ADV, MASK, LossOptions(kl_coef=0, entropy_coef=0.0), entropy=ent)
    assert with_bonus.loss.item() == pytest.approx(without.loss.item() - 0.1 * 2.0)


def test_bad_options_are_one_line_errors():
    with pytest.raises(ReproError, match="dual_clip"):
        LossOptions(dual_clip=0.5).validate()
    with pytest.raises(ReproError, match="aggregation"):
        LossOptions(aggregation="sum").validate()
