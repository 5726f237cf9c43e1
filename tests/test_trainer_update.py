"""The PPO epoch on the real tiny model with responses it sampled itself."""

from __future__ import annotations

import copy

import pytest
import torch

from repro.config import ModelConfig, SamplingConfig
from repro.trainer.loss import LossOptions
from repro.trainer.update import UpdateBatch, causal_lm_scorer, logprob_mismatch, ppo_epoch, recompute_logprobs


@pytest.fixture(scope="module")
def sampled(tiny_model_dir):
    from repro.policy import load_policy

    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    prompts = [policy.chat_prompt([{"role": "user", "content": text}])
               for text in ("go to the fridge", "You arrive at countertop 1.", "search[red shoes]", "look")]
    gens = policy.sample(prompts, SamplingConfig(temperature=1.0, max_new_tokens=12, seed=3))
    batch = UpdateBatch(prompts, [g.response_ids for g in gens], [g.logprobs for g in gens], [1.0, -1.0, 0.5, -0.5])
    return policy, batch


def epoch(policy, batch, micro_batch_rows, options=None, advantages=None, mini_batch_rows=4):
    model = copy.deepcopy(policy.model)
    reference = copy.deepcopy(policy.model).requires_grad_(False)
    # plain SGD: Adam's first step is ~lr·sign(g), which turns float noise in tiny gradients into lr-sized differences
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    if advantages is not None:
        batch = UpdateBatch(batch.prompt_ids, batch.response_ids, batch.old_logprobs, advantages)
    stats = ppo_epoch(model, reference, optimizer, causal_lm_scorer(policy.pad_id), batch, range(len(batch)),
                      options or LossOptions(), 1.0, mini_batch_rows=mini_batch_rows, micro_batch_rows=micro_batch_rows,
                      grad_clip=1.0)
    return model, stats


def test_recomputed_logprobs_match_the_sampler(sampled):
    policy, batch = sampled
    recomputed = recompute_logprobs(policy.model, causal_lm_scorer(policy.pad_id), batch, 1.0, micro_batch_rows=3)
    assert [len(r) for r in recomputed] == [len(r) for r in batch.response_ids]
    assert logprob_mismatch(batch.old_logprobs, recomputed)["logprob_mismatch_max"] < 1e-4


@pytest.mark.parametrize("mini_batch_rows, entropy_coef", [(4, 0.0), (2, 0.0), (2, 0.001)])
def test_the_epoch_reports_the_mismatch_of_its_first_mini_batch(sampled, mini_batch_rows, entropy_coef):
    """The first mini-batch's forward runs on the sampling weights, so its log-probs give the
    numbers of a separate no-grad pass over those rows (all rows when there is one mini-batch):
    the same to the bit without the entropy bonus, to float rounding with it (log_softmax there)."""
    policy, batch = sampled
    first = list(range(mini_batch_rows))  # the epoch's row order is range(4)
    # one row per forward in both, so the two forwards pad alike
    recomputed = recompute_logprobs(policy.model, causal_lm_scorer(policy.pad_id), batch, 1.0, micro_batch_rows=1)
    separate = logprob_mismatch([batch.old_logprobs[i] for i in first], [recomputed[i] for i in first])
    _, stats = epoch(policy, batch, micro_batch_rows=1, mini_batch_rows=mini_batch_rows,
                     options=LossOptions(entropy_coef=entropy_coef))
    assert stats["optimizer_steps"] == 4 // mini_batch_rows
    assert 0 < separate["logprob_mismatch_max"] < 1e-4
    for key, value in separate.items():
        if entropy_coef == 0:
            assert stats[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
        else:
            assert stats[key] == pytest.approx(value, abs=1e-6), key


def test_entropy_path_gives_the_same_logprobs(sampled):
    policy, batch = sampled
    score = causal_lm_scorer(policy.pad_id)
    with torch.no_grad():
        plain, none = score(policy.model, batch.prompt_ids, batch.response_ids, 0.7, False)
        with_entropy, entropy = score(policy.model, batch.prompt_ids, batch.response_ids, 0.7, True)
    assert none is None and torch.allclose(plain, with_entropy, atol=1e-6)
    assert entropy.shape == plain.shape and (entropy >= 0).all()


def test_micro_batching_does_not_change_the_update(sampled):
    policy, batch = sampled
    whole, stats_whole = epoch(policy, batch, micro_batch_rows=4)
    split, stats_split = epoch(policy, batch, micro_batch_rows=1)
    assert stats_whole["optimizer_steps"] == stats_split["optimizer_steps"] == 1
    assert stats_whole["loss"] == pytest.approx(stats_split["loss"], rel=1e-5)
    for a, b in zip(whole.parameters(), split.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    # on-policy first step: ratio 1 everywhere, nothing clipped, KL to the (identical) reference 0
    assert stats_whole["clip_fraction"] == 0 and stats_whole["kl"] == pytest.approx(0, abs=1e-6)


def test_positive_advantage_raises_its_responses_probability(sampled):
    policy, batch = sampled
    options = LossOptions(kl_coef=0.0, entropy_coef=0.0)
    model, _ = epoch(policy, batch, 4, options, advantages=[1.0, 1.0, -1.0, -1.0])
    score = causal_lm_scorer(policy.pad_id)
    before = recompute_logprobs(policy.model, score, batch, 1.0, 4)
    after = recompute_logprobs(model, score, batch, 1.0, 4)
    gain = [sum(a) - sum(b) for a, b in zip(after, before)]
    assert gain[0] > 0 and gain[1] > 0 and gain[2] < 0 and gain[3] < 0
