"""Serial-group rollouts (docs/sgrpo.md §2.2-2.5, §2.13) with the real tiny model, real GSM8K problems
and the real verifier pool."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.algos import ALGOS
from repro.config import ModelConfig, SamplingConfig
from repro.envs.math import GSM8K, MathProblem
from repro.envs.verify import VerifierPool
from repro.policy.base import Generation
from repro.rollout.serial import (INDUCER, NOT_CLOSED, SerialConfig, build_exits, check_groups, end_of_think_id,
                                  find_thoughts, fraction_exit_positions, group_summary, inducer_ids,
                                  sample_exit_positions, serial_rollout)
from repro.trainer.advantages import assign_rewards


@pytest.fixture(scope="module")
def policy(tiny_model_dir):
    from repro.policy import load_policy

    return load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu", batch_size=16))


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=1, timeout_s=20) as p:
        yield p


def closed_full_response(policy, prompt: list[int], thought: str, answer: str) -> Generation:
    """A full response O⁰ whose thought closes with the model's </think> (the random tiny model
    almost never writes one itself), with its log-probs scored under the policy."""
    tok = policy.tokenizer
    ids = tok.encode(f"<think>{thought}</think>{answer}", add_special_tokens=False) + [tok.eos_token_id]
    logprobs = policy.score([prompt], [ids], temperature=1.0)[0]
    return Generation(prompt, ids, logprobs, tok.decode(ids), "stop")


def test_inducer_end_of_think_is_the_tokenizers_single_token(policy):
    tok = policy.tokenizer
    ids = inducer_ids(tok)
    eot = end_of_think_id(tok)
    assert eot == tok.convert_tokens_to_ids("</think>") == policy.end_of_think_id
    assert ids.count(eot) == 1
    assert tok.decode(ids) == INDUCER


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), m=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_exit_positions_are_sorted_distinct_and_inside_the_thought(n, m, seed):
    positions = sample_exit_positions(n, m, np.random.default_rng(seed))
    assert len(positions) == min(n, m)
    assert all(1 <= p <= n for p in positions)
    assert positions == sorted(set(positions))


def test_fraction_exit_positions_keep_at_least_one_token():
    assert fraction_exit_positions(50, [0.1, 0.5, 1.0]) == [5, 25, 50]
    assert fraction_exit_positions(3, [0.1, 0.2, 1.0]) == [1, 1, 3]
    assert fraction_exit_positions(0, [0.5]) == []


def test_serial_rollout_layout_and_logprobs_on_gsm8k(policy, pool):
    task = GSM8K(GSM8K.Config())
    problems = task.problems("train")[:2]
    prompts = [policy.chat_prompt(task.messages(p)) for p in problems]
    cfg = SerialConfig(exits=8, answer_max_tokens=6)
    groups = serial_rollout(policy, problems, prompts, SamplingConfig(max_new_tokens=24), cfg, seed=3)
    inducer = inducer_ids(policy.tokenizer)
    full = [g.full for g in groups]
    thoughts = find_thoughts(policy, [Generation(g.prompt_ids, m.response_ids, m.logprobs, "", m.finish_reason)
                                      for g, m in zip(groups, full)])
    for group, thought in zip(groups, thoughts):
        assert len(group.members) == 1 + min(8, thought.tokens)
        positions = [m.exit_position for m in group.exits]
        assert positions == sorted(set(positions)) and all(1 <= p <= thought.tokens for p in positions)
        assert [m.exit_index for m in group.members] == list(range(len(group.members)))
        for m in group.exits:
            prefix = thought.start + m.exit_position
            assert m.response_ids[:prefix] == group.full.response_ids[:prefix]
            assert m.response_ids[prefix:prefix + len(inducer)] == inducer
            continuation = m.response_ids[prefix + len(inducer):]
            assert 1 <= len(continuation) <= cfg.answer_max_tokens and m.answer_start == prefix + len(inducer)
        # every recorded log-prob (O⁰'s prefix, the scored inducer, the sampled continuation) is the
        # policy's log-prob of that token in that context
        scored = policy.score([group.prompt_ids] * len(group.members), [m.response_ids for m in group.members])
        for m, s in zip(group.members, scored):
            assert np.allclose(m.logprobs, s, atol=1e-4)
    check_groups(groups, policy, pool)
    assign_rewards(groups, ALGOS.get("sgrpo"))
    for g in groups:
        if not g.thought_closed:  # the random model rarely closes its thought: reward 0, never verified
            assert g.full.verdict == NOT_CLOSED and g.full.reward == 0.0
    summary = group_summary(groups)
    assert summary["groups"] == 2 and 0 <= summary["thought_not_closed_rate"] <= 1


@pytest.mark.parametrize("train_on_inducer", [False, True])
def test_loss_mask_covers_prefix_and_answer(policy, train_on_inducer):
    problem = MathProblem("t/0", "What is 3 + 4?", "7")
    prompt = policy.chat_prompt([{"role": "user", "content": problem.problem}])
    full = closed_full_response(policy, prompt, "I add three and four which makes seven", "\n\nSo \\boxed{7}.")
    n = find_thoughts(policy, [full])[0].tokens
    cfg = SerialConfig(answer_max_tokens=5, train_on_inducer=train_on_inducer)
    (group,) = build_exits(policy, [problem], [prompt], [full], [[1, n // 2, n]], SamplingConfig(), cfg, seed=0)
    inducer = inducer_ids(policy.tokenizer)
    assert group.thought_closed and group.thinking_tokens == n
    for m in group.exits:
        prefix = 1 + m.exit_position  # the response opens with <think>
        expected = [True] * prefix + [train_on_inducer] * len(inducer) + [True] * (len(m.response_ids) - prefix - len(inducer))
        assert m.loss_mask == expected
        assert sum(m.loss_mask) == len(m.response_ids) - (0 if train_on_inducer else len(inducer))
    assert group.full.loss_mask == [True] * len(full.response_ids)


def test_closed_group_rewards_follow_eq1(policy, pool):
    problem = MathProblem("t/1", "What is 3 + 4?", "7")
    prompt = policy.chat_prompt([{"role": "user", "content": problem.problem}])
    full = closed_full_response(policy, prompt, "three plus four is seven so the answer is seven", "\n\nThe answer is \\boxed{7}.")
    n = find_thoughts(policy, [full])[0].tokens
    positions = sorted(np.random.default_rng(0).choice(np.arange(1, n + 1), 8, replace=False).tolist())
    (group,) = build_exits(policy, [problem], [prompt], [full], [positions],
                           SamplingConfig(temperature=1.0), SerialConfig(answer_max_tokens=8), seed=1)
    check_groups([group], policy, pool)
    assert group.full.verdict == "correct"  # the conclusion after </think> is what gets checked
    assign_rewards([group], ALGOS.get("sgrpo"))
    # Eq. 1 walked by hand in exit order, full rollout last
    right, expected = 0, []
    for m in group.members:
        right += m.correct
        expected.append(1 / 2 ** (right - 1) if m.correct else 0.0)
    rewards = [m.reward for m in group.members]
    assert rewards == pytest.approx(expected)
    assert [m.advantage for m in group.members] == pytest.approx(list(np.array(expected) - np.mean(expected)))


def test_group_rewards_for_given_verdicts_match_fig5(policy):
    problem = MathProblem("t/2", "What is 3 + 4?", "7")
    prompt = policy.chat_prompt([{"role": "user", "content": problem.problem}])
    full = closed_full_response(policy, prompt, "three plus four is seven so I will write seven as the answer", "\n\n\\boxed{7}")
    n = find_thoughts(policy, [full])[0].tokens
    (group,) = build_exits(policy, [problem], [prompt], [full], [list(range(1, 9))], SamplingConfig(),
                           SerialConfig(answer_max_tokens=2), seed=0)
    assert n >= 8
    for m, verdict in zip(group.members, ["wrong"] + ["correct"] * 8):  # paper Fig. 5: ✗✓✓✓✓✓✓✓✓
        m.verdict = verdict
    assign_rewards([group], ALGOS.get("sgrpo"))
    assert [m.reward for m in group.members] == pytest.approx([0, 1, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128])
