"""GRPO on step rows, as the GiGPO paper's baseline runs it (docs/gigpo.md §5).

"GRPO for multi-turn agents" is the trajectory's outcome advantage copied to each of its step
rows: each row's outcome score (episode return - λ if its own action was invalid) is normalised
by the mean and unbiased std of the scores of *all rows* of its group. The group sample is
therefore one value per step row, each trajectory weighted by its length (the reference code's
choice; the GRPO paper has one value per response).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.algos import Algorithm, EstimatorConfig
from repro.algos.groupstats import EPS, GroupStats, group_stats
from repro.algos.rows import StepRows
from repro.errors import ReproError


@dataclass
class GRPOConfig(EstimatorConfig):
    norm_by_std: bool = True  # false = mean-centring only (Dr.GRPO; the reference's norm_adv_by_std_in_grpo)
    invalid_penalty: float = 0.1  # λ, subtracted once from an invalid row's score (docs/gigpo.md §2.5)

    def validate(self, prefix: str = "grpo") -> None:
        if self.invalid_penalty < 0:
            raise ReproError(f"{prefix}.invalid_penalty must be >= 0, got {self.invalid_penalty}")


def normalize_in_group(values: np.ndarray, groups: np.ndarray, stats: GroupStats, norm_by_std: bool) -> np.ndarray:
    """(x - μ_g) / (σ_g + ε), or x - μ_g without std; a group whose sample has a single value
    uses μ = 0, σ = 1, so its lone row keeps its raw score (the reference's singleton rule)."""
    single = stats.size[groups] == 1
    centred = values - np.where(single, 0.0, stats.mean[groups])
    if not norm_by_std:
        return centred
    return centred / (np.where(single, 1.0, stats.std[groups]) + EPS)


@dataclass(frozen=True)
class GRPOAdvantages:
    advantage: np.ndarray  # the reward normalised in its group (GiGPO Eq. 3 on step rows)
    reward: np.ndarray  # what is normalised: the row's outcome score, episode return - λ if invalid


def grpo_advantages(rows: StepRows, cfg: GRPOConfig | None = None) -> GRPOAdvantages:
    """One advantage per step row (GiGPO Eq. 3 applied to step rows, F_norm = std or 1)."""
    cfg = cfg or GRPOConfig()
    scores = rows.outcome_scores(cfg.invalid_penalty)
    stats = group_stats(scores, rows.group, rows.n_groups)
    return GRPOAdvantages(advantage=normalize_in_group(scores, rows.group, stats, cfg.norm_by_std), reward=scores)


GRPO = Algorithm(config=GRPOConfig, estimate=grpo_advantages, inputs=StepRows)
