"""Where every recipe's advantages come from: the rollout's records become the input the estimator
declares (:class:`repro.algos.Algorithm` ``inputs``), the estimator runs, and its result
(``.advantage`` and its named parts) goes back to the recipe.

The agent recipes pass step rows (:func:`step_rows`; PPO then builds its token input from the
critic's values), the math recipe its serial or parallel groups (:func:`assign_rewards`). No caller
branches on an algorithm's name: what differs is the declared input.
"""

from __future__ import annotations

from typing import Any, Sequence

from repro.algos import Advantages, Algorithm, EstimatorConfig
from repro.algos.rows import ResponseRows, SerialRows, StepRows
from repro.errors import ReproError
from repro.rollout.serial import SerialGroup
from repro.rollout.types import StepRow


def estimate(algorithm: Algorithm, inputs: Any, cfg: EstimatorConfig | None) -> Advantages:
    """``algorithm``'s estimator on ``inputs``, which must be of the type it declares."""
    if not isinstance(inputs, algorithm.inputs):
        raise ReproError(f"{algorithm.estimate.__name__} estimates from {algorithm.inputs.__name__}, "
                         f"not from {type(inputs).__name__}")
    return algorithm.estimate(inputs, cfg)


def step_rows(rows: Sequence[StepRow]) -> StepRows:
    """The rollout's step rows as the multi-turn estimators' columns."""
    return StepRows.from_columns(
        group=[r.group for r in rows], traj=[r.traj for r in rows], step=[r.number for r in rows],
        reward=[r.reward for r in rows], valid=[r.valid for r in rows], anchor=[r.anchor for r in rows])


def math_rows(inputs: type, groups: Sequence[SerialGroup],
              query: Sequence[int]) -> SerialRows | ResponseRows | StepRows:
    """Every member of ``groups`` as the input ``inputs`` names; ``query[i]`` is the prompt of
    ``groups[i]`` (a serial group holds one prompt's responses; a parallel group's responses are
    one-member groups of the same query)."""
    members = [(q, m) for q, g in zip(query, groups) for m in g.members]
    group = [q for q, _ in members]
    correct = [m.correct for _, m in members]
    if inputs is SerialRows:
        return SerialRows.from_columns(group, [m.exit_index for _, m in members], correct)
    if inputs is ResponseRows:
        return ResponseRows.from_columns(group, [len(m.response_ids) for _, m in members], correct)
    if inputs is StepRows:  # one-step rows: each response its own trajectory, rewarded by its verdict
        n = len(members)
        return StepRows.from_columns(group=group, traj=list(range(n)), step=[1] * n,
                                     reward=[float(c) for c in correct], valid=[True] * n)
    raise ReproError(f"no math recipe feeds an estimator that reads {inputs.__name__}")


def assign_rewards(groups: Sequence[SerialGroup], algorithm: Algorithm, cfg: EstimatorConfig | None = None,
                   query: Sequence[int] | None = None) -> None:
    """Each member's reward and advantage from its verdict (``query``: one prompt per group
    unless given)."""
    query = range(len(groups)) if query is None else query
    members = [m for g in groups for m in g.members]
    if not members:
        return
    result = estimate(algorithm, math_rows(algorithm.inputs, groups, query), cfg)
    for member, r, a in zip(members, result.reward, result.advantage):
        member.reward, member.advantage = float(r), float(a)
