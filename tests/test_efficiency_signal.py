"""The GiGPO efficiency study's mechanism (docs/gigpo.md §7), on real maze episodes through `repro advantages`.

When every trajectory of a group succeeds, GRPO's advantage is 0 on every row, but GiGPO's discounted
step return still ranks the rows of one anchor state by how soon they led out, so its step advantage
prefers the sooner exit. This is what the efficiency study (benchmarks/tables/gigpo-efficiency/) needs
in order to show anything, checked here in seconds instead of the study's 30-minute runs: groups of the
study's scripted `wander` teacher on the study's maze (the episodes its warm start imitates), their
step rows in the contract `repro train ... dump_rows=true` writes, and the real estimators behind the CLI.
The control runs the same statistic at γ = 1, where a success's step return no longer depends on when
it came, and must find no preference: the statistic can fail.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from repro.envs.maze import MazeEnv
from repro.rollout import EnvPool, run_scripted
from repro.rollout.config import RolloutConfig

# the efficiency study's maze (benchmarks/tables/gigpo-efficiency/*.yaml) and its group size
STUDY_MAZE = MazeEnv.Config(size=3, max_steps=10, min_distance=2, extra_openings=4, history_length=0)
GROUP_SIZE = 4
MAZES = 24


@pytest.fixture(scope="module")
def all_success_rows(tmp_path_factory) -> Path:
    """Step rows (group, traj, 1-based step, anchor, reward, valid) of the all-success wander groups on
    24 train mazes, as a JSONL file."""
    tasks = [(task, {}) for task in MazeEnv(STUDY_MAZE).task_ids("train")[:MAZES]]
    with EnvPool(MazeEnv, STUDY_MAZE, RolloutConfig(num_workers=1)) as pool:
        episodes = run_scripted(pool, "wander", tasks, seed=0, group_size=GROUP_SIZE)
    by_group = defaultdict(list)
    for e in episodes:
        by_group[e.group].append(e)
    rows = [{"group": e.group, "traj": e.traj, "step": i + 1, "anchor": s["observation"], "reward": s["reward"],
             "valid": s["valid"], "remaining": e.steps - i}
            for group in by_group.values() if all(e.success for e in group)
            for e in group for i, s in enumerate(e.trace)]
    assert len({r["group"] for r in rows}) >= MAZES // 2, "the wander teacher should mostly succeed on this maze"
    path = tmp_path_factory.mktemp("efficiency") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sooner_exit_preference(rows: list[dict], field: str) -> tuple[int, int]:
    """Over the anchor groups (one group's rows with the same observation) whose rows left by different
    numbers of remaining steps: (how many, in how many ``field`` is strictly higher for every row that
    was strictly fewer steps from the exit)."""
    anchors = defaultdict(list)
    for r in rows:
        anchors[(r["group"], r["anchor"])].append(r)
    comparable = preferred = 0
    for members in anchors.values():
        if len({m["remaining"] for m in members}) < 2:
            continue
        comparable += 1
        pairs = [(a, b) for a in members for b in members if a["remaining"] < b["remaining"]]
        preferred += all(a[field] > b[field] for a, b in pairs)
    return comparable, preferred


def test_in_all_success_groups_grpo_has_no_signal_and_gigpo_prefers_the_sooner_exit(all_success_rows, repro_advantages):
    grpo = repro_advantages("grpo", all_success_rows, "norm_by_std=true")
    assert all(r["advantage"] == 0.0 for r in grpo)

    for mode in ("mean_std_norm", "mean_norm"):  # GiGPO w/ and w/o std
        gigpo = repro_advantages("gigpo", all_success_rows, f"mode={mode}", "gamma=0.95")
        assert all(r["episode_advantage"] == 0.0 for r in gigpo)  # equal returns: A^E = 0, as GRPO's
        comparable, preferred = sooner_exit_preference(gigpo, "step_advantage")
        assert comparable >= 10, "repeated anchor states are what the study relies on"
        assert preferred == comparable, (mode, comparable, preferred)
        assert any(r["advantage"] != 0.0 for r in gigpo)


def test_control_without_discount_the_same_statistic_finds_no_preference(all_success_rows, repro_advantages):
    gigpo = repro_advantages("gigpo", all_success_rows, "mode=mean_std_norm", "gamma=1.0")
    comparable, preferred = sooner_exit_preference(gigpo, "step_advantage")
    assert comparable >= 10 and preferred == 0
    assert all(r["advantage"] == 0.0 for r in gigpo)
