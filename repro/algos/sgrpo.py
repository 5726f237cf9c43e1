"""S-GRPO: serial-group decaying reward and its advantage (docs/sgrpo.md §2.5-2.6).

A serial group is m early-exit answers plus the full rollout, walked in exit order (earliest
exit first, the full rollout last). The paper's reward decays with the *rank among correct
answers*, not with the exit index: the first correct answer gets 1, the k-th correct 1/2^(k-1),
wrong answers 0. The advantage is r - mean(r) over the group, without dividing by the std.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from repro.algos import Algorithm, EstimatorConfig
from repro.algos.groupstats import group_stats
from repro.algos.rows import RowsError, SerialRows
from repro.errors import ReproError

REWARDS = ("decay", "shortest_one", "all_one")


@dataclass
class SGRPOConfig(EstimatorConfig):
    # decay (Eq. 1) | shortest_one (Table 2 "w/o decay, only the shortest correct gets 1": the first
    # correct answer in exit order) | all_one (Table 2 "every correct gets 1")
    reward: str = "decay"

    def validate(self, prefix: str = "sgrpo") -> None:
        if self.reward not in REWARDS:
            raise ReproError(f"{prefix}.reward must be one of {', '.join(REWARDS)}, got '{self.reward}'")


def serial_rewards(correct_in_exit_order: Sequence[bool], reward: str = "decay") -> np.ndarray:
    """Rewards of one serial group given its verdicts in exit order (full rollout last)."""
    correct = np.asarray(correct_in_exit_order, dtype=bool)
    return _reward_by_rank(correct, np.cumsum(correct), reward)


def _reward_by_rank(correct: np.ndarray, rank: np.ndarray, reward: str) -> np.ndarray:
    """``rank``: correct answers of the group up to and including this one, in exit order."""
    if reward == "decay":
        return np.where(correct, 0.5 ** (rank - 1.0), 0.0)  # Eq. 1: r = 1 / 2^(N_right - 1)
    if reward == "shortest_one":
        return np.where(correct & (rank == 1), 1.0, 0.0)
    return correct.astype(np.float64)


@dataclass(frozen=True)
class SGRPOAdvantages:
    reward: np.ndarray  # Eq. 1 (or the Table 2 ablation's rule) per response
    advantage: np.ndarray  # r - mean(r) over the serial group (Eq. 2's Â, no std division)


def sgrpo_advantages(rows: SerialRows, cfg: SGRPOConfig | None = None) -> SGRPOAdvantages:
    """Reward and advantage of every response of many serial groups (rows in any order)."""
    cfg = cfg or SGRPOConfig()
    codes, exit_index, correct = rows.group, rows.exit_index, rows.correct
    order = np.lexsort((exit_index, codes))  # each group in exit order
    g, e, c = codes[order], exit_index[order], correct[order]
    repeated = np.flatnonzero((g[1:] == g[:-1]) & (e[1:] == e[:-1]))
    if repeated.size:
        raise RowsError(f"exit_index {e[repeated[0] + 1]} appears twice in one group", int(order[repeated[0] + 1]))
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
    seen = np.cumsum(c)  # correct answers so far over the whole sorted batch ...
    before_group = np.maximum.accumulate(np.where(first, seen - c, 0))  # ... minus those of earlier groups
    reward = np.empty(len(codes))
    reward[order] = _reward_by_rank(c, seen - before_group, cfg.reward)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    stats = group_stats(reward, codes, n_groups)
    return SGRPOAdvantages(reward=reward, advantage=reward - stats.mean[codes])  # docs/sgrpo.md §2.6: no std division


SGRPO = Algorithm(config=SGRPOConfig, estimate=sgrpo_advantages, inputs=SerialRows)
