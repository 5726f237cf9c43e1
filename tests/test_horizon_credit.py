"""The GiGPO horizon study's mechanism (docs/gigpo.md §4.1), on real maze episodes through `repro advantages`.

GRPO gives every step of a trajectory its episode's one credit. GiGPO's step advantage A^S compares the
steps that different trajectories of a group took from the same room by what followed them, so the steps
of one trajectory can earn different credit. The horizon study (benchmarks/tables/gigpo-horizon/) can only
show GiGPO helping more as the horizon grows if this happens at each of its horizons: on the study's open
3x3 maze with the exit exactly d = 2, 3, 4 moves away and a d-step cap, groups of uniformly random
admissible moves (what its format-only warm start does) must put several trajectories' steps in one anchor
group, and there A^S must rank every step that went on to the exit above every step that did not.
The control breaks the anchor key (one anchor per row, so the trajectories never meet, as with an
observation that names the trajectory): no step group forms, A^S is 0 and the same statistics fail.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from repro.envs.maze import MazeEnv
from repro.rollout import EnvPool, run_scripted
from repro.rollout.config import RolloutConfig

HORIZONS = (2, 3, 4)
GROUP_SIZE = 4  # the study's group size
MAZES = 64  # per horizon: at d = 4 random moves reach the exit ~8 % of the time


def study_maze(d: int) -> MazeEnv.Config:
    """The horizon study's maze at horizon d (benchmarks/tables/gigpo-horizon/*-d<d>.yaml)."""
    return MazeEnv.Config(size=3, extra_openings=4, min_distance=d, max_distance=d, max_steps=d, history_length=0)


@pytest.fixture(scope="module")
def random_groups(tmp_path_factory) -> Path:
    """Step rows of random-move groups on 64 train mazes per horizon (group and traj ids carry the horizon),
    with each row's horizon and whether its trajectory reached the exit, as a JSONL file."""
    rows = []
    for d in HORIZONS:
        cfg = study_maze(d)
        tasks = [(task, {}) for task in MazeEnv(cfg).task_ids("train")[:MAZES]]
        with EnvPool(MazeEnv, cfg, RolloutConfig(num_workers=1)) as pool:
            episodes = run_scripted(pool, "random", tasks, seed=d, group_size=GROUP_SIZE)
        rows += [{"group": f"d{d}-{e.group}", "traj": f"d{d}-{e.traj}", "step": i + 1, "anchor": s["observation"],
                  "reward": s["reward"], "valid": s["valid"], "horizon": d, "success": e.success}
                 for e in episodes for i, s in enumerate(e.trace)]
    path = tmp_path_factory.mktemp("horizon") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def without_shared_anchors(rows: Path) -> Path:
    """The same rows, each with an anchor of its own."""
    out = rows.with_name("unique_anchors.jsonl")
    lines = [json.loads(line) for line in rows.read_text().splitlines()]
    out.write_text("".join(json.dumps(r | {"anchor": f"{r['traj']}/{r['step']}"}) + "\n" for r in lines))
    return out


def anchor_groups(rows: list[dict]) -> list[list[dict]]:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["group"], r["anchor"])].append(r)
    return list(groups.values())


def shared_row_share(rows: list[dict]) -> float:
    """The share of rows whose anchor group holds at least one other row."""
    return sum(len(g) for g in anchor_groups(rows) if len(g) > 1) / len(rows)


def exit_ranking(rows: list[dict]) -> tuple[int, int]:
    """Over the anchor groups holding steps of trajectories that reached the exit and of ones that did not:
    (how many, in how many every such winning step has a strictly higher step advantage than every losing one)."""
    comparable = ranked = 0
    for members in anchor_groups(rows):
        won = [m["step_advantage"] for m in members if m["success"]]
        lost = [m["step_advantage"] for m in members if not m["success"]]
        if won and lost:
            comparable += 1
            ranked += min(won) > max(lost)
    return comparable, ranked


def split_credit_trajectories(rows: list[dict]) -> int:
    """How many trajectories' steps do not all carry the same advantage."""
    credit = defaultdict(set)
    for r in rows:
        credit[r["traj"]].add(r["advantage"])
    return sum(len(values) > 1 for values in credit.values())


def at_horizon(rows: list[dict], d: int) -> list[dict]:
    return [r for r in rows if r["horizon"] == d]


def test_at_every_horizon_shared_rooms_split_a_trajectorys_credit_by_what_followed(random_groups, repro_advantages):
    grpo = repro_advantages("grpo", random_groups, "norm_by_std=true")
    for mode in ("mean_std_norm", "mean_norm"):  # GiGPO w/ and w/o std, the study's settings
        gigpo = repro_advantages("gigpo", random_groups, f"mode={mode}", "gamma=0.95")
        for d in HORIZONS:
            rows = at_horizon(gigpo, d)
            assert any(r["success"] for r in rows) and not all(r["success"] for r in rows)
            assert shared_row_share(rows) >= 0.5, (d, "the open maze's loops are what make rooms repeat")
            comparable, ranked = exit_ranking(rows)
            assert comparable >= 20 and ranked == comparable, (mode, d, comparable, ranked)
            assert split_credit_trajectories(rows) >= 20, (mode, d)
    for d in HORIZONS:  # GRPO: one credit per trajectory, whatever the horizon
        assert split_credit_trajectories(at_horizon(grpo, d)) == 0


def test_control_trajectories_that_never_share_a_room_get_no_step_credit(random_groups, repro_advantages):
    gigpo = repro_advantages("gigpo", without_shared_anchors(random_groups), "mode=mean_std_norm", "gamma=0.95")
    assert all(r["step_advantage"] == 0.0 for r in gigpo)
    for d in HORIZONS:
        rows = at_horizon(gigpo, d)
        assert shared_row_share(rows) == 0.0
        assert exit_ranking(rows) == (0, 0)
        assert split_credit_trajectories(rows) == 0
