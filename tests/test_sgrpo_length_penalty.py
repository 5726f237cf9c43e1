"""RL + length penalty (Arora & Zanette), S-GRPO's baseline: reward and RLOO advantage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repro.algos import ALGOS
from repro.algos.length_penalty import LengthPenaltyConfig, length_penalty_advantages, length_penalty_rewards
from repro.algos.rows import ResponseRows


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_reward_penalises_long_correct_answers_relative_to_the_prompt():
    group = ["a"] * 4 + ["b"] * 2
    length = [100, 200, 300, 50, 1000, 10]
    correct = [True, True, True, False, True, False]
    r = length_penalty_rewards(group, length, correct, alpha=0.2)
    mean, std = 200.0, np.std([100, 200, 300])
    expected = [1 - 0.2 * sigmoid((n - mean) / std) for n in (100, 200, 300)]
    assert r[:3] == pytest.approx(expected)
    assert r[3] == 0.0 and r[5] == 0.0  # wrong answers get 0, however short
    assert r[4] == pytest.approx(1 - 0.2 * 0.5)  # a lone correct answer has no spread: σ(0)
    assert r[0] > r[1] > r[2]  # shorter correct answers score higher


def test_advantage_is_leave_one_out_and_registered():
    group, length, correct = ["q"] * 3, [10, 20, 30], [True, False, True]
    result = length_penalty_advantages(ResponseRows.from_columns(group, length, correct), LengthPenaltyConfig(alpha=0.2))
    r = result.reward
    assert result.advantage == pytest.approx([r[0] - (r[1] + r[2]) / 2, r[1] - (r[0] + r[2]) / 2, r[2] - (r[0] + r[1]) / 2])
    assert ALGOS.get("length_penalty").estimate is length_penalty_advantages
    assert ALGOS.get("length_penalty").config().alpha == 0.2
