"""What a rollout produces: step rows (training input) and episode records (results)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StepRow:
    """One model reply in one environment step (the unit of training for agents, docs/gigpo.md §1)."""

    group: int  # tasks[group]: the N trajectories of a group start from the same task
    traj: int  # unique within the rollout: group * group_size + member
    step: int  # 0-based step index within the trajectory
    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]  # sampled log-probs, one per response id (repro.policy.base convention)
    anchor: Any  # the env's raw observation the reply answered (GiGPO anchor state)
    reward: float  # env reward of this step
    valid: bool  # format validity (docs/gigpo.md §2.4)
    done: bool  # the episode ended with this step (won, env end or max_steps)
    episode_return: float = 0.0  # the trajectory's total env reward (filled when it ends)
    episode_length: int = 0  # the trajectory's number of steps (filled when it ends)
    success: bool = False  # the trajectory's final won flag (filled when it ends)

    @property
    def number(self) -> int:
        """The step counted from 1, as the estimators' ``repro.algos.rows.StepRows`` and the rows
        dumps count it (the one place the two countings meet)."""
        return self.step + 1


@dataclass
class EpisodeRecord:
    """One finished (or failed) episode, as written to samples.jsonl."""

    group: int
    traj: int
    task: Any  # the JSON-able task spec the env was reset to
    policy: str
    task_type: str | None = None
    episode_return: float = 0.0
    success: bool = False
    task_score: float = 0.0
    steps: int = 0
    invalid_steps: int = 0
    failed: str | None = None  # why the episode could not finish (worker crash/hang, env error)
    # one dict per step: observation (seen before the action), admissible_actions, reply (raw
    # model text; None for scripted policies), action, valid, reward, done
    trace: list[dict[str, Any]] = field(default_factory=list)
    final_observation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rollout:
    rows: list[StepRow]  # rows of failed episodes are dropped (their trajectory is incomplete)
    episodes: list[EpisodeRecord]  # ordered by traj

