"""The maze env (the CPU learning task): deterministic mazes, real semantics, expert wins."""

from __future__ import annotations

import json
import random

import pytest

from repro.envs import ENVS
from repro.envs.maze import MazeConfig, MazeEnv, build_maze, compass, shortest_path
from repro.errors import ReproError


def test_mazes_are_deterministic_connected_and_far_enough():
    cfg = MazeConfig()
    for index in range(50):
        doors, start, goal = build_maze(index, cfg)
        assert build_maze(index, cfg) == (doors, start, goal)
        assert len(shortest_path(doors, start, goal)) >= cfg.min_distance
        # a spanning tree plus extra openings: every room reaches every other
        assert all(shortest_path(doors, start, c) or c == start for c in doors)
    assert build_maze(0, cfg) != build_maze(1, cfg)


def test_a_distance_bound_fixes_the_horizon_and_leaves_unbounded_mazes_as_they_were():
    # the GiGPO horizon study's mazes: the 3x3 open maze with the exit exactly d moves away
    for d in (2, 3, 4):
        cfg = MazeConfig(size=3, extra_openings=4, min_distance=d, max_distance=d)
        assert {len(shortest_path(*build_maze(i, cfg))) for i in range(40)} == {d}
    # max_distance = 2 (size - 1) bounds nothing on a 3x3 maze: the same mazes as without a bound
    assert all(build_maze(i, MazeConfig(size=3, min_distance=2, max_distance=4)) == build_maze(i, MazeConfig(size=3, min_distance=2))
               for i in range(20))
    for bad in (1, 5):  # below min_distance, beyond the longest path of a 3x3 grid
        with pytest.raises(ReproError, match="max_distance must be 0 or in"):
            MazeConfig(size=3, min_distance=2, max_distance=bad).validate()


def test_splits_are_disjoint_and_sized():
    env = MazeEnv(MazeConfig(test_tasks=10, train_tasks=20))
    test, train = env.task_ids("test"), env.task_ids("train")
    assert len(test) == 10 and len(train) == 20 and not set(test) & set(train)
    with pytest.raises(ReproError, match="unknown maze split"):
        env.task_ids("valid")


def test_step_semantics():
    env = MazeEnv(MazeConfig(max_steps=3))
    obs, info = env.reset("7")
    assert info["anchor"] == obs and info["task"] == "reach the exit." and not info["won"]
    assert f"The exit is to the {compass(env.position, env.goal)}." in obs
    assert info["admissible_actions"] == [f"go {d}" for d in ("north", "south", "east", "west") if d in env.doors[env.position]]
    blocked = next(d for d in ("north", "south", "east", "west") if d not in env.doors[env.position])
    here = env.position
    obs, reward, done, info = env.step(f"go {blocked}")
    assert env.position == here and obs.startswith("You cannot do that.") and reward == 0 and not done
    env.step("dance")
    assert env.step("dance")[2]  # the step cap ends the episode


def test_expert_wins_with_the_shortest_path_and_random_mostly_does_not():
    env = MazeEnv(MazeConfig())
    wins = {"expert": 0, "random": 0}
    for task in env.task_ids("train")[:100]:
        for name in wins:
            obs, info = env.reset(task)
            rng, done, steps = random.Random(task), False, 0
            optimal = len(shortest_path(env.doors, env.position, env.goal))
            while not done:
                action = ("go " + shortest_path(env.doors, env.position, env.goal)[0] if name == "expert"
                          else rng.choice(info["admissible_actions"]))
                obs, reward, done, info = env.step(action)
                steps += 1
            wins[name] += info["won"]
            if name == "expert" and info["won"]:
                assert reward == 10.0 and steps == optimal
    assert wins["expert"] >= 98 and wins["random"] < 40


def test_wander_arrives_almost_always_but_by_detours():
    """The efficiency study's demonstrator: run as a scripted policy by the real episode loop."""
    from repro.rollout.scripted import run_scripted_episode

    cfg = MazeConfig(size=3, max_steps=10, min_distance=2, extra_openings=4)
    env = MazeEnv(cfg)
    records = [run_scripted_episode(env, "wander", task, seed, {}, 0, seed)
               for seed, task in enumerate(env.task_ids("train")[:200])]
    wins = [r for r in records if r.success]
    assert 0.85 <= len(wins) / len(records) < 1.0  # ~95% (WANDER_EPSILON's simulation)
    shortest = sum(len(shortest_path(*build_maze(int(r.task), cfg))) for r in wins)
    assert sum(r.steps for r in wins) >= 1.3 * shortest
    assert [r.trace for r in records[:5]] == [run_scripted_episode(env, "wander", r.task, seed, {}, 0, seed).trace
                                              for seed, r in enumerate(records[:5])]  # seeded per episode


def test_registered_as_agent_env():
    assert ENVS.entry("maze").meta["kind"] == "agent" and ENVS.get("maze") is MazeEnv


def test_model_policy_eval_samples_with_the_runs_seed(tmp_path, tiny_model_dir):
    """The seeds of one eval config are different draws (a table's n = 3 must be 3 samples), and one
    seed is reproducible."""
    from repro.eval.agent import run_agent_eval
    from repro.eval.config import build_eval_config

    def replies(seed: int, name: str) -> list[str]:
        cfg = build_eval_config("maze", None, [
            "policy=model", f"model.path={tiny_model_dir}", "model.num_threads=1", "rollout.num_workers=1", "limit=3",
            "sampling.max_new_tokens=8", "env.max_steps=2", f"seed={seed}", f"results_dir={tmp_path}", f"run_name={name}"])
        samples = (run_agent_eval(cfg) / "samples.jsonl").read_text()
        return [step["reply"] for line in samples.splitlines() for step in json.loads(line)["trace"]]

    first = replies(0, "a")
    assert replies(0, "b") == first
    assert replies(1, "c") != first
