"""RLOO on step rows (docs/gigpo.md §5): each row's baseline is the mean score of the *other* rows of
its group. Optimised with the PPO-clip loss in the paper's runs (closer to LOOP)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.algos import Algorithm, EstimatorConfig
from repro.algos.groupstats import group_stats
from repro.algos.rows import StepRows
from repro.errors import ReproError


@dataclass
class RLOOConfig(EstimatorConfig):
    invalid_penalty: float = 0.1  # λ, subtracted once from an invalid row's score (docs/gigpo.md §2.5)

    def validate(self, prefix: str = "rloo") -> None:
        if self.invalid_penalty < 0:
            raise ReproError(f"{prefix}.invalid_penalty must be >= 0, got {self.invalid_penalty}")


@dataclass(frozen=True)
class RLOOAdvantages:
    advantage: np.ndarray  # the reward less the mean of the group's other rows
    reward: np.ndarray  # the row's outcome score, episode return - λ if invalid


def rloo_advantages(rows: StepRows, cfg: RLOOConfig | None = None) -> RLOOAdvantages:
    """A_k = score_k - mean_{j≠k} score_j = (n·score_k - Σ_j score_j) / (n - 1) over the n rows
    of the group; a group of one row keeps its raw score (no other row to compare with)."""
    cfg = cfg or RLOOConfig()
    scores = rows.outcome_scores(cfg.invalid_penalty)
    stats = group_stats(scores, rows.group, rows.n_groups)
    n = stats.size[rows.group]
    # both sums measured from the group minimum: ties give exactly 0
    above_min = scores - stats.minimum[rows.group]
    loo = (n * above_min - stats.total_above_min[rows.group]) / np.maximum(n - 1, 1)
    return RLOOAdvantages(advantage=np.where(n == 1, scores, loo), reward=scores)


RLOO = Algorithm(config=RLOOConfig, estimate=rloo_advantages, inputs=StepRows)
