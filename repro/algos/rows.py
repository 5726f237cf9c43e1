"""The estimators' inputs: the columns each one declares (:class:`repro.algos.Algorithm` ``inputs``).

* :class:`StepRows` - the multi-turn estimators (GiGPO, GRPO, RLOO; docs/gigpo.md §1): each
  environment step of each trajectory is its own training sample, so a batch is a bag of step rows;
* :class:`SerialRows` - S-GRPO: the members of serial groups (docs/sgrpo.md §2.5);
* :class:`ResponseRows` - the length-penalty baseline: the responses of parallel groups.

The trainer (from its rollouts, :mod:`repro.trainer.advantages`) and ``repro advantages`` (from
JSONL) build them; the estimators only read them. PPO's token input is
:class:`repro.algos.gae.TokenRows` (tensors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import numpy as np

from repro.errors import ReproError


class RowsError(ReproError):
    """Inconsistent step rows; ``row`` is the 0-based index of the offending row so a caller
    reading a file can name its line."""

    def __init__(self, message: str, row: int):
        super().__init__(message)
        self.row = row


def factorize(keys: Sequence[Hashable]) -> np.ndarray:
    """Dense int64 codes 0..K-1 in order of first appearance."""
    codes: dict[Hashable, int] = {}
    return np.fromiter((codes.setdefault(k, len(codes)) for k in keys), dtype=np.int64, count=len(keys))


@dataclass(frozen=True, eq=False)
class StepRows:
    """One row per model reply in one environment step.

    ``group`` and ``traj`` are dense codes (0..G-1, 0..T-1; a trajectory code is unique across
    the whole batch and belongs to one group). Steps of a trajectory are exactly 1..T (every row
    of a trajectory present, as the reference code asserts). Build with :meth:`from_columns`.
    """

    group: np.ndarray  # int64 episode-group code (the N rollouts of one task share it)
    traj: np.ndarray  # int64 trajectory code
    step: np.ndarray  # int64, 1-based step index inside the trajectory
    reward: np.ndarray  # float64 env reward of this step
    valid: np.ndarray  # bool, the reply's action format was valid (docs/gigpo.md §2.4)
    anchor: Sequence[Any]  # JSON-able anchor observation of this step (docs/gigpo.md §2.1/§2.2)

    @classmethod
    def from_columns(
        cls,
        group: Sequence[Hashable],
        traj: Sequence[Hashable],
        step: Sequence[int],
        reward: Sequence[float],
        valid: Sequence[bool],
        anchor: Sequence[Any] | None = None,
    ) -> StepRows:
        """Build from raw ids of any hashable type; trajectory ids only need to be unique inside
        their group. Raises :class:`RowsError` naming the first inconsistent row."""
        n = len(group)
        anchor = [None] * n if anchor is None else list(anchor)
        if not all(len(c) == n for c in (traj, step, reward, valid, anchor)):
            raise ReproError("step-row columns have different lengths")
        rows = cls(
            group=factorize(group),
            traj=factorize(list(zip(group, traj))),
            step=np.asarray(step, dtype=np.int64).reshape(n),
            reward=np.asarray(reward, dtype=np.float64).reshape(n),
            valid=np.asarray(valid, dtype=bool).reshape(n),
            anchor=anchor,
        )
        rows.check()
        return rows

    def __len__(self) -> int:
        return len(self.group)

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if len(self) else 0

    @property
    def n_trajs(self) -> int:
        return int(self.traj.max()) + 1 if len(self) else 0

    def check(self) -> None:
        """Rewards finite, each trajectory inside one group, its steps exactly 1..T."""
        if not len(self):
            return
        bad = np.flatnonzero(~np.isfinite(self.reward))
        if bad.size:
            raise RowsError(f"reward must be a finite number, got {self.reward[bad[0]]}", int(bad[0]))
        owner = np.zeros(self.n_trajs, dtype=np.int64)
        owner[self.traj] = self.group
        bad = np.flatnonzero(owner[self.traj] != self.group)
        if bad.size:
            raise RowsError("a trajectory's rows belong to different groups", int(bad[0]))
        bad = np.flatnonzero(self.step < 1)
        if bad.size:
            raise RowsError(f"step must be >= 1, got {self.step[bad[0]]}", int(bad[0]))
        order = np.lexsort((np.arange(len(self)), self.step, self.traj))
        traj, step = self.traj[order], self.step[order]
        first = np.r_[True, traj[1:] != traj[:-1]]
        position = np.arange(len(self)) - np.maximum.accumulate(np.where(first, np.arange(len(self)), 0)) + 1
        bad = np.flatnonzero(step != position)
        if bad.size:
            i = bad[0]
            if not first[i] and step[i] == step[i - 1]:
                raise RowsError(f"step {step[i]} appears twice in one trajectory", int(order[i]))
            raise RowsError(f"trajectory has step {step[i]} but no step {position[i]} (steps must be 1..T)", int(order[i]))

    def reward_matrix(self) -> np.ndarray:
        """Rewards as [trajectory, step - 1] (0 after a trajectory's last step)."""
        matrix = np.zeros((self.n_trajs, int(self.step.max()) if len(self) else 0))
        matrix[self.traj, self.step - 1] = self.reward
        return matrix

    def episode_returns(self) -> np.ndarray:
        """R(τ) = Σ_t r_t of each row's trajectory (docs/gigpo.md §4.1)."""
        return self.reward_matrix().sum(axis=1)[self.traj]

    def outcome_scores(self, invalid_penalty: float) -> np.ndarray:
        """The row's outcome score: its episode return minus λ once if its action was invalid
        (docs/gigpo.md §2.5, §4.2 step 2)."""
        return self.episode_returns() - invalid_penalty * ~self.valid



@dataclass(frozen=True, eq=False)
class SerialRows:
    """The members of serial groups, in any order (docs/sgrpo.md §2.5): a group's ``exit_index``
    orders its responses, the full rollout having the largest. Build with :meth:`from_columns`."""

    group: np.ndarray  # int64 dense code of the serial group (one query)
    exit_index: np.ndarray  # int64
    correct: np.ndarray  # bool verdict of the response's answer

    @classmethod
    def from_columns(cls, group: Sequence[Hashable], exit_index: Sequence[int],
                     correct: Sequence[bool]) -> SerialRows:
        codes = factorize(list(group))
        n = len(codes)
        return cls(group=codes, exit_index=np.asarray(exit_index, dtype=np.int64).reshape(n),
                   correct=np.asarray(correct, dtype=bool).reshape(n))

    def __len__(self) -> int:
        return len(self.group)


@dataclass(frozen=True, eq=False)
class ResponseRows:
    """The responses of parallel groups (one group per prompt), with their lengths in tokens.
    Build with :meth:`from_columns`."""

    group: np.ndarray  # int64 dense code of the prompt's group
    length: np.ndarray  # float64 response length (tokens)
    correct: np.ndarray  # bool verdict of the response's answer

    @classmethod
    def from_columns(cls, group: Sequence[Hashable], length: Sequence[int], correct: Sequence[bool]) -> ResponseRows:
        codes = factorize(list(group))
        n = len(codes)
        return cls(group=codes, length=np.asarray(length, dtype=np.float64).reshape(n),
                   correct=np.asarray(correct, dtype=bool).reshape(n))

    def __len__(self) -> int:
        return len(self.group)
