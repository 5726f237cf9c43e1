"""The one estimator interface (docs/architecture.md §3): every registered estimator takes the input it
declares and returns a result with ``.advantage``; ``repro.trainer.advantages`` turns rollout records
into that input for the agent and the math recipes alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.algos import ALGOS
from repro.algos.gae import TokenRows
from repro.algos.grpo import grpo_advantages
from repro.algos.length_penalty import length_penalty_advantages
from repro.algos.rows import ResponseRows, SerialRows, StepRows
from repro.errors import ReproError
from repro.rollout.serial import SerialGroup, SerialMember
from repro.rollout.types import StepRow
from repro.trainer.advantages import assign_rewards, estimate, math_rows, step_rows

# one small input of each declared type: 2 groups, 5 rows (GAE: 5 rows of 3 tokens, the last padded)
INPUTS = {
    StepRows: StepRows.from_columns(group=["a", "a", "a", "b", "b"], traj=[0, 0, 1, 2, 3], step=[1, 2, 1, 1, 1],
                                    reward=[0.0, 10.0, 0.0, 10.0, 0.0], valid=[True, True, False, True, True],
                                    anchor=["x", "y", "x", "x", "x"]),
    SerialRows: SerialRows.from_columns(["a", "a", "a", "b", "b"], [0, 1, 2, 0, 1], [False, True, True, True, False]),
    ResponseRows: ResponseRows.from_columns(["a", "a", "a", "b", "b"], [10, 20, 30, 5, 7], [True, True, False, True, True]),
    TokenRows: TokenRows(token_rewards=torch.tensor([[0.0, 0.0, 1.0]] * 5), values=torch.full((5, 3), 0.25),
                         response_mask=torch.tensor([[1, 1, 1]] * 4 + [[1, 1, 0]])),
}


@pytest.mark.parametrize("name", ALGOS.names())
def test_every_estimator_takes_its_declared_input_and_returns_advantages(name):
    algorithm = ALGOS.get(name)
    assert algorithm.inputs in INPUTS, f"{name} declares an input this test does not know: {algorithm.inputs}"
    result = estimate(algorithm, INPUTS[algorithm.inputs], algorithm.config())
    assert len(result.advantage) == 5 and np.isfinite(np.asarray(result.advantage)).all()
    assert not isinstance(result, (np.ndarray, torch.Tensor, tuple))  # a result with named fields, not bare arrays
    wrong = next(inputs for kind, inputs in INPUTS.items() if kind is not algorithm.inputs)
    with pytest.raises(ReproError, match=f"estimates from {algorithm.inputs.__name__}"):
        estimate(algorithm, wrong, algorithm.config())


def test_step_rows_count_steps_from_one():
    def row(traj: int, step: int, reward: float) -> StepRow:
        return StepRow(group=0, traj=traj, step=step, prompt_ids=[1], response_ids=[2], logprobs=[-0.5],
                       anchor=f"room {step}", reward=reward, valid=True, done=False)

    rows = step_rows([row(0, 0, 0.0), row(0, 1, 10.0), row(1, 0, 0.0)])
    assert rows.step.tolist() == [1, 2, 1] and rows.reward.tolist() == [0.0, 10.0, 0.0]
    assert rows.anchor == ["room 0", "room 1", "room 0"] and rows.n_trajs == 2


def _parallel_groups(correct: list[bool], lengths: list[int]) -> list[SerialGroup]:
    """What the math recipe's parallel baselines roll out: one one-member group per response."""
    return [SerialGroup(problem=None, prompt_ids=[1], thinking_tokens=0, thought_closed=True,
                        members=[SerialMember(0, None, [7] * n, [-1.0] * n, [True] * n, 0, "stop",
                                              verdict="correct" if c else "wrong")])
            for c, n in zip(correct, lengths)]


def test_parallel_groups_feed_grpo_and_the_length_penalty_their_declared_inputs():
    query, correct, lengths = [0, 0, 0, 1, 1, 1], [True, False, True, False, False, True], [4, 9, 16, 3, 5, 8]
    groups = _parallel_groups(correct, lengths)
    assign_rewards(groups, ALGOS.get("grpo"), None, query)
    one_step = StepRows.from_columns(group=query, traj=range(6), step=[1] * 6, reward=[float(c) for c in correct],
                                     valid=[True] * 6)
    assert [g.full.reward for g in groups] == [float(c) for c in correct]  # GRPO's reward: the verdict
    assert [g.full.advantage for g in groups] == grpo_advantages(one_step).advantage.tolist()

    groups = _parallel_groups(correct, lengths)
    assign_rewards(groups, ALGOS.get("length_penalty"), None, query)
    direct = length_penalty_advantages(ResponseRows.from_columns(query, lengths, correct))
    assert [g.full.reward for g in groups] == direct.reward.tolist()
    assert [g.full.advantage for g in groups] == direct.advantage.tolist()
    assert isinstance(math_rows(SerialRows, groups, query), SerialRows)
    with pytest.raises(ReproError, match="no math recipe feeds an estimator that reads TokenRows"):
        math_rows(TokenRows, groups, query)
