"""Advantage estimators against hand-computed numbers and the properties of docs/gigpo.md §7 / docs/sgrpo.md §2.5."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from repro.algos import ALGOS
from repro.algos.gae import GAEConfig, TokenRows, gae_advantages, outcome_token_rewards
from repro.algos.gigpo import GiGPOConfig, gigpo_advantages
from repro.algos.grpo import GRPOConfig, grpo_advantages
from repro.algos.rloo import RLOOConfig, rloo_advantages
from repro.algos.rows import RowsError, SerialRows, StepRows
from repro.algos.sgrpo import SGRPOConfig, serial_rewards, sgrpo_advantages
from repro.errors import ReproError

torch.set_num_threads(1)


def make_rows(trajs: list[tuple[str, str, list[tuple]]]) -> StepRows:
    """trajs: (group, traj id, [(anchor, reward, valid), ...] in step order)."""
    cols: dict[str, list] = {k: [] for k in ("group", "traj", "step", "reward", "valid", "anchor")}
    for group, traj, steps in trajs:
        for k, (anchor, reward, valid) in enumerate(steps, start=1):
            for name, value in zip(cols, (group, traj, k, reward, valid, anchor)):
                cols[name].append(value)
    return StepRows.from_columns(**cols)


# The hand case (γ = 0.5, λ = 0.1, ω = 1, mean_norm), one group, rows in this order:
#   τ1: A -> B -> C, rewards 0, 0, 10 (success)      τ2: A -> B, rewards 0, 10, step 2 invalid
#   τ3: A -> B -> B, rewards 0, 0, 0 (failure; B revisited)
HAND = [("g", "t1", [("A", 0, True), ("B", 0, True), ("C", 10, True)]),
        ("g", "t2", [("A", 0, True), ("B", 10, False)]),
        ("g", "t3", [("A", 0, True), ("B", 0, True), ("B", 0, True)])]
HAND_CFG = GiGPOConfig(gamma=0.5, invalid_penalty=0.1)


def test_hand_case_mean_norm():
    out = gigpo_advantages(make_rows(HAND), HAND_CFG)
    # step returns (Eq. 5, then -λ on the invalid row): τ1 2.5, 5, 10; τ2 5, 10 - 0.1; τ3 0, 0, 0
    np.testing.assert_allclose(out.step_return, [2.5, 5, 10, 5, 9.9, 0, 0, 0])
    # episode scores 10,10,10 | 10, 9.9 | 0,0,0 over 8 rows: mean 49.9 / 8 = 6.2375
    np.testing.assert_allclose(out.episode_advantage,
                               [3.7625, 3.7625, 3.7625, 3.7625, 3.6625, -6.2375, -6.2375, -6.2375])
    # anchor A: {2.5, 5, 0} mean 2.5; B: {5, 9.9, 0, 0} mean 3.725; C: {10} singleton -> 0
    np.testing.assert_allclose(out.step_advantage, [0, 1.275, 0, 2.5, 6.175, -2.5, -3.725, -3.725], atol=1e-12)
    np.testing.assert_allclose(out.advantage,
                               [3.7625, 5.0375, 3.7625, 6.2625, 9.8375, -8.7375, -9.9625, -9.9625])


def test_hand_case_ablation_keeps_one_term_of_eq8():
    # Fig. 4: w/o A^S is A^E alone; w/o A^E is ω·A^S alone (here ω = 0.5: half the step advantages above)
    episode_only = gigpo_advantages(make_rows(HAND), GiGPOConfig(gamma=0.5, components="episode"))
    np.testing.assert_allclose(episode_only.advantage,
                               [3.7625, 3.7625, 3.7625, 3.7625, 3.6625, -6.2375, -6.2375, -6.2375])
    step_only = gigpo_advantages(make_rows(HAND), GiGPOConfig(gamma=0.5, omega=0.5, components="step"))
    np.testing.assert_allclose(step_only.advantage, [0, 0.6375, 0, 1.25, 3.0875, -1.25, -1.8625, -1.8625], atol=1e-12)
    # the other term is still computed and reported, only left out of A
    np.testing.assert_allclose(step_only.episode_advantage, episode_only.advantage)
    with pytest.raises(ReproError, match="gigpo.components must be one of both, episode, step, got 'neither'"):
        GiGPOConfig(components="neither").validate()


def test_hand_case_episode_stats_trajectories():
    # Eq. 3 literally: baseline over the 3 trajectory returns {10, 10, 0}, mean 20/3
    out = gigpo_advantages(make_rows(HAND), GiGPOConfig(gamma=0.5, episode_stats="trajectories"))
    third = 10 / 3
    np.testing.assert_allclose(out.episode_advantage,
                               [third, third, third, third, third - 0.1, -2 * third, -2 * third, -2 * third])


def test_std_mode_penalty_in_tied_cluster():
    # docs/gigpo.md §4.2 step 5: three tied rows, one penalised: {10, 10, 9.9}, mean 9.9667,
    # unbiased std 0.057735 -> -0.0667 / 0.0577 = -1.155 and +0.0333 / 0.0577 = +0.577
    rows = make_rows([("g", f"t{i}", [("X", 10, i != 2)]) for i in range(3)])
    out = gigpo_advantages(rows, GiGPOConfig(mode="mean_std_norm"))
    np.testing.assert_allclose(out.step_advantage, [1 / math.sqrt(3), 1 / math.sqrt(3), -2 / math.sqrt(3)], rtol=1e-4)
    assert out.step_advantage[2] == pytest.approx(-1.155, abs=1e-3)
    assert out.step_advantage[0] == pytest.approx(0.577, abs=1e-3)


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
def test_singleton_rules(mode):
    # episode level: a group with one row keeps its raw score (μ = 0, σ = 1), in std mode / (1 + 1e-6)
    lone = gigpo_advantages(make_rows([("g", "t", [("X", 10, False)])]), GiGPOConfig(mode=mode))
    expected = 9.9 if mode == "mean_norm" else 9.9 / (1 + 1e-6)
    assert lone.episode_advantage[0] == pytest.approx(expected, rel=1e-12)
    # ... and its step group is a singleton: A^S = 0
    assert lone.step_advantage[0] == 0.0
    # one trajectory with two rows is NOT an episode singleton: scores {10, 9.9} -> ±0.05 (mean_norm)
    two = gigpo_advantages(make_rows([("g", "t", [("X", 0, True), ("Y", 10, False)])]), GiGPOConfig(mode=mode))
    assert two.episode_advantage[0] > 0 > two.episode_advantage[1]
    if mode == "mean_norm":
        np.testing.assert_allclose(two.episode_advantage, [0.05, -0.05])
    np.testing.assert_array_equal(two.step_advantage, [0.0, 0.0])  # X and Y are both singletons


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
def test_all_fail_group_has_no_signal(mode):
    rows = make_rows([("g", f"t{i}", [("A", 0, True), ("B" if i % 2 else "C", 0, True), ("A", 0, True)])
                      for i in range(4)])
    out = gigpo_advantages(rows, GiGPOConfig(mode=mode))
    np.testing.assert_array_equal(out.advantage, np.zeros(len(rows)))


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
def test_all_success_group_rewards_shorter_paths(mode):
    # τ1: A -> B (success at step 2); τ2: A -> C -> B (success at step 3). Both return 10, so A^E = 0
    # and GRPO gives 0, but at A the faster path has return 9.5 against 9.025.
    rows = make_rows([("g", "t1", [("A", 0, True), ("B", 10, True)]),
                      ("g", "t2", [("A", 0, True), ("C", 0, True), ("B", 10, True)])])
    out = gigpo_advantages(rows, GiGPOConfig(mode=mode))
    np.testing.assert_array_equal(out.episode_advantage, np.zeros(5))
    np.testing.assert_array_equal(grpo_advantages(rows, GRPOConfig(norm_by_std=mode == "mean_std_norm")).advantage, np.zeros(5))
    assert out.step_advantage[0] > 0 > out.step_advantage[2]
    if mode == "mean_norm":
        assert out.step_advantage[0] == pytest.approx((9.5 - 9.025) / 2)


def test_identical_anchors_in_different_groups_never_share():
    # each group's lone "X" row is a step singleton; pooled, the two returns 10 and 0 would differ
    rows = make_rows([("g1", "t", [("X", 10, True)]), ("g2", "t", [("X", 0, True)])])
    out = gigpo_advantages(rows)
    assert out.anchor_group[0] != out.anchor_group[1]
    np.testing.assert_array_equal(out.step_advantage, [0.0, 0.0])


def test_json_anchors_are_canonicalised():
    # dict key order does not matter, a list is not the string of its JSON
    rows = make_rows([("g", "t1", [({"a": 1, "b": [1, 2]}, 0, True)]), ("g", "t2", [({"b": [1, 2], "a": 1}, 10, True)]),
                      ("g", "t3", [([1, 2], 0, True)]), ("g", "t4", [("[1,2]", 0, True)])])
    groups = gigpo_advantages(rows).anchor_group
    assert groups[0] == groups[1] and len(set(groups.tolist())) == 3


def test_similarity_groups_near_identical_text():
    # "cabinet 3" vs "cabinet 4" texts (49 chars each) differ in 2 characters: ratio 2·47/98 ≈ 0.959
    a = "You arrive at cabinet 3. The cabinet 3 is closed."
    b = "You arrive at cabinet 4. The cabinet 4 is closed."
    rows = make_rows([("g", "t1", [(a, 0, True)]), ("g", "t2", [(b, 10, True)]), ("g", "t3", [("Nothing happens.", 0, True)])])
    close = gigpo_advantages(rows, GiGPOConfig(anchor_match="similarity", similarity_threshold=0.95))
    assert close.anchor_group.tolist() == [0, 0, 1]
    np.testing.assert_allclose(close.step_advantage, [-5, 5, 0])
    strict = gigpo_advantages(rows, GiGPOConfig(anchor_match="similarity", similarity_threshold=0.97))
    assert strict.anchor_group.tolist() == [0, 1, 2]


def test_similarity_rejects_non_text_anchor():
    rows = make_rows([("g", "t", [("a", 0, True), ({"x": 1}, 0, True)])])
    with pytest.raises(RowsError, match="text anchors") as err:
        gigpo_advantages(rows, GiGPOConfig(anchor_match="similarity"))
    assert err.value.row == 1


def test_step_rows_reject_gaps_and_duplicates():
    with pytest.raises(RowsError, match="twice") as err:
        StepRows.from_columns(["g"] * 3, ["t"] * 3, [1, 2, 2], [0, 0, 0], [True] * 3, ["a"] * 3)
    assert err.value.row == 2
    with pytest.raises(RowsError, match="no step 2"):
        StepRows.from_columns(["g"] * 2, ["t"] * 2, [1, 3], [0, 0], [True] * 2, ["a"] * 2)
    # the same trajectory id in two groups is two trajectories
    rows = StepRows.from_columns(["g1", "g2"], ["t", "t"], [1, 1], [0, 1], [True, True], ["a", "a"])
    assert rows.n_trajs == 2


def test_grpo_and_rloo_by_hand():
    # the hand case's scores: 10,10,10 | 10, 9.9 | 0,0,0 (8 rows, sum 49.9)
    rows = make_rows(HAND)
    dr = grpo_advantages(rows, GRPOConfig(norm_by_std=False)).advantage
    np.testing.assert_allclose(dr, [3.7625, 3.7625, 3.7625, 3.7625, 3.6625, -6.2375, -6.2375, -6.2375])
    scores = np.array([10, 10, 10, 10, 9.9, 0, 0, 0])
    std = scores.std(ddof=1)
    np.testing.assert_allclose(grpo_advantages(rows).advantage, (scores - scores.mean()) / (std + 1e-6))
    # RLOO: a row with score 10 against the other 7 rows' mean (49.9 - 10) / 7 = 5.7
    loo = rloo_advantages(rows, RLOOConfig()).advantage
    np.testing.assert_allclose(loo, [4.3, 4.3, 4.3, 4.3, 9.9 - 40 / 7, -49.9 / 7, -49.9 / 7, -49.9 / 7])
    # a lone row keeps its score; a tied group gives exact zeros
    assert rloo_advantages(make_rows([("g", "t", [("A", 10, False)])])).advantage[0] == pytest.approx(9.9)
    tied = make_rows([("g", f"t{i}", [("A", 0.1, True)] * 3) for i in range(3)])
    np.testing.assert_array_equal(rloo_advantages(tied).advantage, np.zeros(9))


@pytest.mark.parametrize("mode", ["mean_norm", "mean_std_norm"])
@pytest.mark.parametrize("anchor_match", ["exact", "similarity"])
def test_omega_zero_is_grpo_exactly(mode, anchor_match):
    rows = make_rows(HAND + [("h", "t1", [("A", 0, True), ("B", 10, True)]), ("h", "t2", [("A", 0, False)])])
    gigpo = gigpo_advantages(rows, GiGPOConfig(mode=mode, omega=0.0, anchor_match=anchor_match))
    grpo = grpo_advantages(rows, GRPOConfig(norm_by_std=mode == "mean_std_norm")).advantage
    np.testing.assert_array_equal(gigpo.advantage, grpo)


def test_gae_by_hand():
    # γ = 0.5, λ = 1, one row r = (0, 0, 1), V = (0.2, 0.4, 0.6), a padding token after it:
    # δ = (0 + 0.5·0.4 - 0.2, 0 + 0.5·0.6 - 0.4, 1 - 0.6) = (0, -0.1, 0.4)
    # Â_2 = 0.4, Â_1 = -0.1 + 0.5·0.4 = 0.1, Â_0 = 0 + 0.5·0.1 = 0.05
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.2, 0.4, 0.6, 0.9]])
    mask = torch.tensor([[1, 1, 1, 0]])
    out = gae_advantages(TokenRows(rewards, values, mask), GAEConfig(gamma=0.5, whiten=False))
    adv, ret = out.advantage, out.returns
    torch.testing.assert_close(adv, torch.tensor([[0.05, 0.1, 0.4, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.25, 0.5, 1.0, 0.0]]))


def test_gae_defaults_within_row_and_whitening():
    # γ = λ = 1: every valid token's advantage is the row's outcome score minus V_t (no bootstrap
    # across rows); whitening then gives masked mean 0 and unbiased variance 1
    g = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    scores = torch.tensor([10.0, -0.1, 0.0])
    rewards = outcome_token_rewards(scores, mask)
    torch.testing.assert_close(rewards, torch.tensor([[0, 0, 0, 10, 0, 0], [0, -0.1, 0, 0, 0, 0], [0.0] * 6]))
    values = torch.rand(mask.shape, generator=g)
    out = gae_advantages(TokenRows(rewards, values, mask), GAEConfig(whiten=False))
    raw, returns = out.advantage, out.returns
    expected = torch.where(mask.bool(), scores[:, None] - values, 0.0)
    torch.testing.assert_close(raw, expected)
    torch.testing.assert_close(returns, torch.where(mask.bool(), scores[:, None].expand_as(values), 0.0))
    white = gae_advantages(TokenRows(rewards, values, mask)).advantage
    valid = white[mask.bool()]
    assert valid.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert valid.var(unbiased=True).item() == pytest.approx(1.0, rel=1e-4)
    assert (white[~mask.bool()] == 0).all()
    torch.testing.assert_close(valid, (raw[mask.bool()] - raw[mask.bool()].mean()) / raw[mask.bool()].std())


def test_sgrpo_fig5_example():
    # ✗✓✓✓✓✓✓✓✓ (8 exits, full rollout last): 0, 1, 1/2, ..., 1/128; mean (2 - 1/128) / 9
    correct = [False] + [True] * 8
    rewards = serial_rewards(correct)
    np.testing.assert_array_equal(rewards, [0, 1, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128])
    out = sgrpo_advantages(SerialRows.from_columns(["q"] * 9, list(range(9)), correct))
    np.testing.assert_allclose(out.advantage, rewards - (2 - 1 / 128) / 9)
    # the decay counts correct answers, not exits: ✓✗✓ -> 1, 0, 1/2
    np.testing.assert_array_equal(serial_rewards([True, False, True]), [1, 0, 0.5])


def test_sgrpo_table2_ablation_rewards():
    correct = [False, True, False, True, True]
    np.testing.assert_array_equal(serial_rewards(correct, "shortest_one"), [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(serial_rewards(correct, "all_one"), [0, 1, 0, 1, 1])
    out = sgrpo_advantages(SerialRows.from_columns(["q"] * 5, range(5), correct), SGRPOConfig(reward="all_one"))
    np.testing.assert_allclose(out.advantage, np.array([0, 1, 0, 1, 1]) - 0.6)


def test_sgrpo_rows_in_any_order_and_many_groups():
    # group b given out of order; exit 2 is its full rollout
    out = sgrpo_advantages(SerialRows.from_columns(["a", "b", "a", "b", "b"], [0, 2, 1, 0, 1], [True, True, True, False, True]))
    np.testing.assert_array_equal(out.reward, [1, 0.5, 0.5, 0, 1])
    np.testing.assert_allclose(out.advantage, [0.25, 0, -0.25, -0.5, 0.5])
    with pytest.raises(RowsError, match="twice"):
        sgrpo_advantages(SerialRows.from_columns(["a", "a"], [1, 1], [True, True]))


def test_registry_entries_load():
    assert ALGOS.names() == ["gigpo", "grpo", "length_penalty", "ppo", "rloo", "sgrpo"]
    assert ALGOS.get("gigpo").config is GiGPOConfig
    assert ALGOS.get("ppo").estimate is gae_advantages


# ---- property-based tests -------------------------------------------------------------------

ANCHORS = ["A", "B", "C", "Nothing happens.", ["x", 1], {"k": [1, 2]}]


@st.composite
def batches(draw):
    trajs = []
    for g in range(draw(st.integers(1, 3))):
        for t in range(draw(st.integers(1, 4))):
            length = draw(st.integers(1, 5))
            steps = [(draw(st.sampled_from(ANCHORS)),
                      draw(st.sampled_from([0.0, 0.0, 10.0]) | st.floats(-10, 10, allow_nan=False)),
                      draw(st.booleans()))
                     for _ in range(length)]
            trajs.append((f"g{g}", f"t{t}", steps))
    return make_rows(trajs)


def permuted(rows: StepRows, perm: np.ndarray) -> StepRows:
    return StepRows.from_columns(rows.group[perm], rows.traj[perm], rows.step[perm], rows.reward[perm],
                                 rows.valid[perm], [rows.anchor[i] for i in perm])


@settings(max_examples=60, deadline=None)
@given(rows=batches(), mode=st.sampled_from(["mean_norm", "mean_std_norm"]),
       stats=st.sampled_from(["rows", "trajectories"]), seed=st.integers(0, 2**16))
def test_row_order_does_not_change_exact_results(rows, mode, stats, seed):
    cfg = GiGPOConfig(mode=mode, episode_stats=stats)
    perm = np.random.default_rng(seed).permutation(len(rows))
    a, b = gigpo_advantages(rows, cfg), gigpo_advantages(permuted(rows, perm), cfg)
    np.testing.assert_array_equal(a.advantage[perm], b.advantage)
    np.testing.assert_array_equal(grpo_advantages(rows).advantage[perm], grpo_advantages(permuted(rows, perm)).advantage)
    np.testing.assert_array_equal(rloo_advantages(rows).advantage[perm], rloo_advantages(permuted(rows, perm)).advantage)


@settings(max_examples=60, deadline=None)
@given(rows=batches(), omega=st.floats(0, 2))
def test_mean_norm_sums_and_combination(rows, omega):
    out = gigpo_advantages(rows, GiGPOConfig(omega=omega))
    # A^S sums to 0 inside every anchor group; A^E sums to 0 over a group's rows (unless a singleton)
    for group_code in np.unique(out.anchor_group):
        assert out.step_advantage[out.anchor_group == group_code].sum() == pytest.approx(0.0, abs=1e-9)
    for g in range(rows.n_groups):
        members = rows.group == g
        if members.sum() > 1:
            assert out.episode_advantage[members].sum() == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(out.advantage, out.episode_advantage + omega * out.step_advantage)
    # RLOO is Dr.GRPO scaled by n / (n - 1) on groups of n > 1 rows
    n = np.bincount(rows.group)[rows.group]
    dr = grpo_advantages(rows, GRPOConfig(norm_by_std=False)).advantage
    np.testing.assert_allclose(rloo_advantages(rows).advantage[n > 1], (dr * n / np.maximum(n - 1, 1))[n > 1], atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(verdicts=st.lists(st.booleans(), min_size=1, max_size=12))
def test_sgrpo_reward_properties(verdicts):
    r = serial_rewards(verdicts)
    correct_rewards = r[np.asarray(verdicts)]
    # the k-th correct answer gets 1 / 2^(k-1); wrong ones 0; the advantage sums to 0
    np.testing.assert_array_equal(correct_rewards, 0.5 ** np.arange(len(correct_rewards)))
    assert (r[~np.asarray(verdicts)] == 0).all()
    out = sgrpo_advantages(SerialRows.from_columns(["q"] * len(verdicts), range(len(verdicts)), verdicts))
    assert out.advantage.sum() == pytest.approx(0.0, abs=1e-12)
