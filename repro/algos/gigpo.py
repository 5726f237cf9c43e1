"""GiGPO: Group-in-Group Policy Optimization (Feng et al. 2025; docs/gigpo.md §4).

Two levels of group-relative credit on step rows:

* episode level: each trajectory's return against the other trajectories of its group (Eq. 3);
* step level: rows of one group that saw the same anchor observation form a step group (Eq. 6);
  each row's discounted return (Eq. 5) is compared inside it (Eq. 7);

combined as A = A^E + ω·A^S (Eq. 8) and copied to every response token of the row. The paper's
ablation (Fig. 4) drops one term: ``components="episode"`` gives A = A^E, ``"step"`` A = ω·A^S.

Defaults reproduce the reference code (verl-agent), which differs from the paper's equations in
these named options:

* ``episode_stats="rows"``: Eq. 3's mean/std are taken over the group's *step rows* (a trajectory
  counts once per step), not over its N trajectories; ``"trajectories"`` is Eq. 3 literally.
* ``invalid_penalty``: λ is subtracted once from an invalid row's outcome score and step return
  (docs/gigpo.md §2.5); the paper's equations have no penalty.
* singleton rules: a group whose sample has one value gets μ = 0, σ = 1 at the episode level (its
  row keeps its raw score); a step group of one row gets A^S = 0.
* std is the unbiased (n - 1) one, and the std mode divides by (σ + 1e-6).
* ``anchor_match="similarity"`` (used for search-QA): rows are clustered greedily by difflib ratio
  instead of exact equality (docs/gigpo.md §4.2 step 4).

Every field of the result is float64 (the reference computes step returns in float32).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np

from repro.algos import Algorithm, EstimatorConfig
from repro.algos.groupstats import EPS, group_stats
from repro.algos.grpo import normalize_in_group
from repro.algos.rows import RowsError, StepRows, factorize
from repro.algos.similarity import similarity_clusters
from repro.errors import ReproError

MODES = ("mean_norm", "mean_std_norm")
EPISODE_STATS = ("rows", "trajectories")
ANCHOR_MATCH = ("exact", "similarity")
COMPONENTS = ("both", "episode", "step")  # Eq. 8's terms kept (Fig. 4's ablation drops one)


@dataclass
class GiGPOConfig(EstimatorConfig):
    mode: str = "mean_norm"  # mean_norm (F_norm = 1) | mean_std_norm (F_norm = std); one switch for both levels
    gamma: float = 0.95  # γ of the discounted step return (Eq. 5)
    omega: float = 1.0  # ω, weight of the step advantage (Eq. 8; the reference's step_advantage_w)
    invalid_penalty: float = 0.1  # λ per invalid row (docs/gigpo.md §2.5); not in the paper's equations
    episode_stats: str = "rows"  # rows (reference code, paper-era runs) | trajectories (Eq. 3 literally)
    anchor_match: str = "exact"  # exact (Eq. 6) | similarity (greedy difflib clusters, text anchors only)
    similarity_threshold: float = 0.95  # difflib ratio to join a cluster; must lie in (0, 1)
    components: str = "both"  # both (Eq. 8) | episode (A^E only) | step (ω·A^S only): the Fig. 4 ablation

    def validate(self, prefix: str = "gigpo") -> None:
        for name, value, choices in (("mode", self.mode, MODES), ("episode_stats", self.episode_stats, EPISODE_STATS),
                                     ("anchor_match", self.anchor_match, ANCHOR_MATCH),
                                     ("components", self.components, COMPONENTS)):
            if value not in choices:
                raise ReproError(f"{prefix}.{name} must be one of {', '.join(choices)}, got '{value}'")
        if not 0 <= self.gamma <= 1:
            raise ReproError(f"{prefix}.gamma must be in [0, 1], got {self.gamma}")
        if self.invalid_penalty < 0:
            raise ReproError(f"{prefix}.invalid_penalty must be >= 0, got {self.invalid_penalty}")
        if not 0 < self.similarity_threshold < 1:
            raise ReproError(f"{prefix}.similarity_threshold must be in (0, 1), got {self.similarity_threshold}")


@dataclass(frozen=True)
class GiGPOAdvantages:
    advantage: np.ndarray  # A = A^E + ω·A^S per row (Eq. 8), less the term ``components`` drops
    episode_advantage: np.ndarray  # A^E (Eq. 3)
    step_advantage: np.ndarray  # A^S (Eq. 7)
    step_return: np.ndarray  # the value Eq. 7 compares: Eq. 5's return minus λ if the row is invalid
    anchor_group: np.ndarray  # dense step-group code per row (group sizes: np.bincount(anchor_group))


def discounted_step_returns(rows: StepRows, gamma: float) -> np.ndarray:
    """R_t = r_t + γ·R_{t+1}, R_{T+1} = 0, per trajectory (Eq. 5)."""
    rewards = rows.reward_matrix()
    returns = np.zeros_like(rewards)
    following = np.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        following = rewards[:, t] + gamma * following
        returns[:, t] = following
    return returns[rows.traj, rows.step - 1]


def anchor_key(observation: Any) -> Hashable:
    """Strings as-is; any other JSON-able observation as canonical JSON (sorted keys), tagged so
    it never equals a string."""
    if isinstance(observation, str):
        return observation
    return ("json", json.dumps(observation, sort_keys=True, separators=(",", ":"), default=_to_list))


def _to_list(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def exact_anchor_groups(rows: StepRows) -> np.ndarray:
    """Step groups of Eq. 6: rows of one episode group with equal anchors (never across groups)."""
    keys = []
    for i, observation in enumerate(rows.anchor):
        try:
            keys.append(anchor_key(observation))
        except (TypeError, ValueError) as e:
            raise RowsError(f"anchor is not JSON-able: {e}", i) from None
    return factorize(list(zip(rows.group.tolist(), keys)))


def similarity_anchor_groups(rows: StepRows, threshold: float) -> np.ndarray:
    """Step groups of similar text anchors (docs/gigpo.md §4.2 step 4): greedy clusters
    (:func:`repro.algos.similarity.similarity_clusters`) inside each episode group, in row order."""
    for i, observation in enumerate(rows.anchor):
        if not isinstance(observation, str):
            raise RowsError("anchor_match=similarity needs text anchors, got "
                            f"{type(observation).__name__}", i)
    by_group = np.argsort(rows.group, kind="stable")
    bounds = np.cumsum(np.bincount(rows.group, minlength=rows.n_groups))
    out = np.empty(len(rows), dtype=np.int64)
    offset = 0
    for members in np.split(by_group, bounds[:-1]):
        local = similarity_clusters([rows.anchor[i] for i in members.tolist()], threshold)
        out[members] = local + offset
        offset += int(local.max()) + 1 if len(local) else 0
    return out


def combine_advantages(episode_adv: np.ndarray, step_adv: np.ndarray, omega: float, components: str) -> np.ndarray:
    """Eq. 8, A = A^E + ω·A^S, or one of its terms alone (Fig. 4's ablation: w/o A^S, w/o A^E)."""
    if components == "episode":
        return episode_adv.copy()
    if components == "step":
        return omega * step_adv
    return episode_adv + omega * step_adv


def gigpo_advantages(rows: StepRows, cfg: GiGPOConfig | None = None) -> GiGPOAdvantages:
    """GiGPO advantages of every step row (docs/gigpo.md §4.2, steps 1-6)."""
    cfg = cfg or GiGPOConfig()
    by_std = cfg.mode == "mean_std_norm"
    penalty = cfg.invalid_penalty * ~rows.valid

    # Eq. 3: episode relative advantage, centred with each row's own (penalised) score
    scores = rows.episode_returns() - penalty
    if cfg.episode_stats == "rows":
        episode_stats = group_stats(scores, rows.group, rows.n_groups)
    else:
        traj_group = np.zeros(rows.n_trajs, dtype=np.int64)
        traj_group[rows.traj] = rows.group
        episode_stats = group_stats(rows.reward_matrix().sum(axis=1), traj_group, rows.n_groups)
    episode_adv = normalize_in_group(scores, rows.group, episode_stats, by_std)

    # Eq. 5 (then the row's penalty) and Eq. 6
    step_return = discounted_step_returns(rows, cfg.gamma) - penalty
    if cfg.anchor_match == "exact":
        anchor_group = exact_anchor_groups(rows)
    else:
        anchor_group = similarity_anchor_groups(rows, cfg.similarity_threshold)

    # Eq. 7: step relative advantage; a step group of one row carries no comparison
    step_stats = group_stats(step_return, anchor_group, int(anchor_group.max()) + 1 if len(rows) else 0)
    centred = step_return - step_stats.mean[anchor_group]
    step_adv = centred / (step_stats.std[anchor_group] + EPS) if by_std else centred
    step_adv = np.where(step_stats.size[anchor_group] == 1, 0.0, step_adv)

    return GiGPOAdvantages(
        advantage=combine_advantages(episode_adv, step_adv, cfg.omega, cfg.components),
        episode_advantage=episode_adv,
        step_advantage=step_adv,
        step_return=step_return,
        anchor_group=anchor_group,
    )


GIGPO = Algorithm(config=GiGPOConfig, estimate=gigpo_advantages, inputs=StepRows)
