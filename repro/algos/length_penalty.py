"""RL + length penalty (Arora & Zanette 2025, "Training Language Models to Reason Efficiently"),
S-GRPO's baseline with α = 0.2 (docs/sgrpo.md §2.9).

Per prompt, over its parallel group of responses: a correct response gets
``1 − α · σ((len − mean) / std)`` with the mean and std of the lengths of that prompt's *correct*
responses; a wrong one gets 0. So the shortest correct answers score highest, and the penalty is
relative to what the prompt needs. The advantage is RLOO's leave-one-out baseline, as in their
training runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

from repro.algos import Algorithm, EstimatorConfig
from repro.algos.rloo import RLOOConfig, rloo_advantages
from repro.algos.rows import ResponseRows, StepRows
from repro.errors import ReproError


@dataclass
class LengthPenaltyConfig(EstimatorConfig):
    alpha: float = 0.2  # α: the length penalty's weight (the S-GRPO paper's setting)

    def validate(self, prefix: str = "length_penalty") -> None:
        if not 0 <= self.alpha < 1:
            raise ReproError(f"{prefix}.alpha must be in [0, 1), got {self.alpha}")


def length_penalty_rewards(group: Sequence[Hashable], length: Sequence[int], correct: Sequence[bool],
                           alpha: float) -> np.ndarray:
    """r = 1{correct} · (1 − α · σ((len − MEAN) / STD)), MEAN/STD over the group's correct lengths
    (a group with one correct answer, or equal lengths, has no spread: its penalty is α · σ(0))."""
    rows = ResponseRows.from_columns(group, length, correct)
    reward = np.zeros(len(rows))
    for g in np.unique(rows.group[rows.correct]):
        members = (rows.group == g) & rows.correct
        mean, std = rows.length[members].mean(), rows.length[members].std()
        z = (rows.length[members] - mean) / std if std > 0 else np.zeros(int(members.sum()))
        reward[members] = 1.0 - alpha / (1.0 + np.exp(-z))
    return reward


@dataclass(frozen=True)
class LengthPenaltyAdvantages:
    reward: np.ndarray  # the length-penalised correctness per response
    advantage: np.ndarray  # RLOO's leave-one-out advantage of that reward


def length_penalty_advantages(rows: ResponseRows, cfg: LengthPenaltyConfig | None = None) -> LengthPenaltyAdvantages:
    cfg = cfg or LengthPenaltyConfig()
    reward = length_penalty_rewards(rows.group, rows.length, rows.correct, cfg.alpha)
    n = len(reward)
    one_step = StepRows.from_columns(group=rows.group, traj=list(range(n)), step=[1] * n, reward=reward,
                                     valid=[True] * n)
    return LengthPenaltyAdvantages(reward, rloo_advantages(one_step, RLOOConfig(invalid_penalty=0.0)).advantage)


LENGTH_PENALTY = Algorithm(config=LengthPenaltyConfig, estimate=length_penalty_advantages, inputs=ResponseRows)
