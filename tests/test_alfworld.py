"""ALFWorld on the real TextWorld engine, the model rollout loop with the tiny model, worker crashes
and ``repro eval --env alfworld``. Few games: an ALFWorld reset costs 1-10 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("textworld", reason="the ALFWorld text engine (textworld) is not installed")

from repro.config import ModelConfig, SamplingConfig  # noqa: E402
from repro.envs.alfworld import TASK_TYPES, AlfworldEnv, task_type_of  # noqa: E402
from repro.errors import ReproError  # noqa: E402
from repro.rollout import EnvPool, RolloutConfig, collect_groups, project_action, run_scripted  # noqa: E402


@pytest.fixture(scope="module")
def seen_ids() -> list[str]:
    return AlfworldEnv(AlfworldEnv.Config()).task_ids("valid_seen")


def one_per_type(ids: list[str]) -> list[str]:
    first: dict[str, str] = {}
    for t in ids:
        first.setdefault(task_type_of(t), t)
    return [first[k] for k in sorted(first)]


def test_splits_list_games_in_a_stable_order(seen_ids):
    env = AlfworldEnv(AlfworldEnv.Config())
    unseen = env.task_ids("valid_unseen")
    assert (len(seen_ids), len(unseen)) == (140, 134)
    assert seen_ids == sorted(seen_ids) and seen_ids[0].startswith("valid_seen/")
    counts = {k: sum(task_type_of(t) == k for t in unseen) for k in TASK_TYPES.values()}
    assert counts == {"pick": 24, "look": 18, "clean": 31, "heat": 23, "cool": 21, "pick2": 17}
    assert env.sample_tasks("valid_seen", 5, seed=3) == env.sample_tasks("valid_seen", 5, seed=3)
    with pytest.raises(ReproError, match="unknown ALFWorld split 'valid'"):
        env.task_ids("valid")
    with pytest.raises(ReproError, match="not an ALFWorld task id"):
        env.game_file("valid_seen/nonsense")


def test_evaluation_subset_draws_across_task_types(seen_ids):
    from repro.eval.agent import eval_tasks
    from repro.eval.config import EvalConfig

    ten = AlfworldEnv.evaluation_subset(seen_ids, 10, seed=0)
    assert len(set(ten)) == 10 and set(ten) <= set(seen_ids)
    counts = {k: sum(task_type_of(t) == k for t in ten) for k in TASK_TYPES.values()}
    assert sorted(counts.values()) == [1, 1, 2, 2, 2, 2]  # the sorted first 10 are all "look"
    assert AlfworldEnv.evaluation_subset(seen_ids, 30, seed=0)[:10] == ten
    assert AlfworldEnv.evaluation_subset(seen_ids, 10, seed=1) != ten
    assert sorted(AlfworldEnv.evaluation_subset(seen_ids, 500, seed=0)) == seen_ids
    _, pairs = eval_tasks(AlfworldEnv, EvalConfig(env=AlfworldEnv.Config(), split="valid_seen", limit=10))
    assert [t for t, _ in pairs] == ten


def test_packed_split_is_unpacked_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    ids = AlfworldEnv(AlfworldEnv.Config()).task_ids("valid_train")
    assert len(ids) == 200 and all(t.startswith("valid_train/") for t in ids)
    root = tmp_path / "alfworld" / "json_2.1.1"
    assert sorted(p.name for p in root.iterdir()) == ["valid_train"]  # no temp dir left behind
    mtime = (root / "valid_train").stat().st_mtime_ns
    AlfworldEnv(AlfworldEnv.Config()).task_ids("valid_train")
    assert (root / "valid_train").stat().st_mtime_ns == mtime


def test_env_semantics_on_a_real_game(seen_ids):
    env = AlfworldEnv(AlfworldEnv.Config(max_steps=2))
    task = next(t for t in seen_ids if task_type_of(t) == "pick")
    obs, info = env.reset(task)
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-") and info["anchor"] == obs
    assert info["task"] and info["task"] in obs and info["task_type"] == "pick" and not info["won"]
    assert "help" not in info["admissible_actions"] and "look" in info["admissible_actions"]
    obs, reward, done, info = env.step("fly to the moon")
    assert (obs, reward, done, info["anchor"]) == ("Nothing happens.", 0.0, False, "Nothing happens.")
    _, _, done, _ = env.step("look")
    assert done  # the max_steps cap
    env.close()


def smallest_per_type(ids: list[str]) -> list[str]:
    """The game with the shortest PDDL problem of each task type."""
    env = AlfworldEnv(AlfworldEnv.Config())
    size = {t: len(json.loads(env.game_file(t).read_text())["pddl_problem"]) for t in ids}
    return [min((t for t in ids if task_type_of(t) == k), key=lambda t: (size[t], t)) for k in sorted(TASK_TYPES.values())]


def play_side_by_side(cfg: AlfworldEnv.Config, task: str, random_steps: int, seed: int) -> list:
    """Two live envs on one game, stepped in turn: the expert's walkthrough (it wins) and seeded
    random admissible actions; every (observation, reward, done, info) in play order."""
    import random

    expert_env, random_env = AlfworldEnv(cfg), AlfworldEnv(cfg)
    plan = json.loads(expert_env.game_file(task).read_text())["walkthrough"]
    played = [expert_env.reset(task), random_env.reset(task)]
    rng, info = random.Random(seed), played[-1][1]
    for i in range(max(len(plan), random_steps)):
        if i < len(plan):
            played.append(expert_env.step(plan[i]))
        if i < random_steps:
            played.append(random_env.step(rng.choice(info["admissible_actions"])))
            info = played[-1][3]
    expert_env.close()
    random_env.close()
    return played


def test_engine_caches_change_no_observation(seen_ids):
    """The memoised translation, game logic and template parses (alfworld_engine) against the
    plain engine: the same episodes, step for step, for every task type; the second env of a game
    resets from the cache, and sys.argv survives the translations."""
    from repro.envs import alfworld_engine

    argv = list(sys.argv)
    for task in smallest_per_type(seen_ids):  # a plain reset costs 1-4 s, growing with the game
        plain = play_side_by_side(AlfworldEnv.Config(engine_cache_games=0), task, random_steps=6, seed=5)
        hits = alfworld_engine.cache_stats()["translations"]["hits"]
        cached = play_side_by_side(AlfworldEnv.Config(engine_cache_games=4), task, random_steps=6, seed=5)
        assert cached == plain, task
        assert alfworld_engine.cache_stats()["translations"]["hits"] >= hits + 4  # the second env's two states
        assert plain[0][1]["task_type"] == task_type_of(task) and plain[0][1]["anchor"] == plain[0][0]
        assert any(reward == 10.0 and done and info["won"] for _, reward, done, info in plain[2:]), task
    assert sys.argv == argv
    assert 0 < alfworld_engine.cache_stats()["translations"]["entries"] <= 2 * 4


def test_a_groups_resets_run_on_the_worker_that_holds_its_game(seen_ids):
    games = smallest_per_type(seen_ids)[:2]
    with EnvPool(AlfworldEnv, AlfworldEnv.Config(), RolloutConfig(num_workers=2)) as pool:
        for eid in range(6):
            pool.reset(eid, games[eid // 3])
        results = {}
        while len(results) < 6:
            results.update((r.eid, r) for r in pool.wait())
        home = {eid: pool._live[eid].worker for eid in range(6)}  # the worker each episode lives on
    assert all(r.ok for r in results.values())
    assert home[0] == home[1] == home[2] != home[3] == home[4] == home[5]  # one home per game, both used
    assert results[0].value == results[1].value == results[2].value != results[3].value


def test_expert_wins_one_game_of_each_task_type(seen_ids):
    games = one_per_type(seen_ids)
    with EnvPool(AlfworldEnv, AlfworldEnv.Config(), RolloutConfig(num_workers=2)) as pool:
        records = run_scripted(pool, "expert", [(t, {}) for t in games])
    assert [r.task for r in records] == games
    assert {task_type_of(r.task) for r in records} == set(TASK_TYPES.values())
    for r in records:
        assert r.failed is None and r.success and r.episode_return == 10.0 and r.task_score == 1.0
        assert r.trace[-1]["done"] and r.trace[-1]["reward"] == 10.0
        assert all(t["reward"] == 0.0 and not t["done"] for t in r.trace[:-1])
        assert r.steps == len(r.trace) == len(json.loads(AlfworldEnv(AlfworldEnv.Config()).game_file(r.task).read_text())["walkthrough"])


def test_model_policy_rollout_loop(tiny_model_dir, seen_ids):
    from repro.policy import load_policy

    policy = load_policy(ModelConfig(path=str(tiny_model_dir)))
    cfg = AlfworldEnv.Config(max_steps=3)
    tasks = seen_ids[:2]
    with EnvPool(AlfworldEnv, cfg, RolloutConfig(num_workers=2)) as pool:
        rollout = collect_groups(pool, policy, tasks, group_size=2, sampling=SamplingConfig(max_new_tokens=24, seed=1))
    assert [(e.group, e.traj, e.task) for e in rollout.episodes] == [(0, 0, tasks[0]), (0, 1, tasks[0]), (1, 2, tasks[1]), (1, 3, tasks[1])]
    assert len(rollout.rows) == 4 * 3  # the random model never wins: every episode hits the cap
    for ep in rollout.episodes:
        rows = [r for r in rollout.rows if r.traj == ep.traj]
        assert ep.failed is None and not ep.success and ep.steps == 3 and ep.policy == "model"
        assert [r.step for r in rows] == [0, 1, 2] and [r.done for r in rows] == [False, False, True]
        assert all(r.group == ep.group and r.episode_length == 3 and r.episode_return == 0.0 for r in rows)
        for row, entry in zip(rows, ep.trace):
            # the anchor is the raw observation the reply answered
            assert row.anchor == entry["observation"]
            assert (entry["action"], entry["valid"]) == project_action(entry["reply"], 30)
            assert row.valid == entry["valid"] and len(row.logprobs) == len(row.response_ids) > 0
        assert rows[0].anchor.startswith("-= Welcome to TextWorld") and "Your task is to:" in rows[0].anchor
        first = policy.tokenizer.decode(rows[0].prompt_ids)
        third = policy.tokenizer.decode(rows[2].prompt_ids)
        assert "Observation 1" not in first and "step 3" in third
        # history: the last two (observation, action) pairs, quoted, with their step numbers
        assert f"Action 1: '{ep.trace[0]['action']}']" in third and f"Action 2: '{ep.trace[1]['action']}']" in third
        assert f"[Observation 2: '{ep.trace[1]['observation']}'" in third


def test_worker_crash_fails_only_that_episode(seen_ids):
    games = seen_ids[:3]
    with EnvPool(AlfworldEnv, AlfworldEnv.Config(), RolloutConfig(num_workers=1)) as pool:
        killed = []

        def kill_after_first(record):
            if not killed:  # the second game's episode is now running in the only worker
                killed.append(pool.worker_pids()[0])
                os.kill(killed[0], signal.SIGKILL)

        records = run_scripted(pool, "expert", [(t, {}) for t in games], on_episode=kill_after_first)
        assert pool.restarts == 1 and pool.worker_pids()[0] != killed[0]
    assert [r.success for r in records] == [True, False, True]
    assert records[1].failed and "worker crashed" in records[1].failed and records[1].task == games[1]


def test_hung_worker_is_restarted_and_its_episode_failed(seen_ids):
    # every real reset takes far longer than this budget, so the first episode "hangs"
    cfg = RolloutConfig(num_workers=1, reset_timeout_s=0.05, step_timeout_s=0.001)
    with EnvPool(AlfworldEnv, AlfworldEnv.Config(max_steps=2), cfg) as pool:
        (record,) = run_scripted(pool, "random", [(seen_ids[0], {})])
        assert pool.restarts == 1
    assert not record.success and "hung for more than" in record.failed


def test_crash_restores_the_other_episodes_of_the_worker(seen_ids):
    cfg = AlfworldEnv.Config()
    with EnvPool(AlfworldEnv, cfg, RolloutConfig(num_workers=1)) as pool:
        pool.reset(0, seen_ids[0])
        (res,) = pool.wait()
        assert res.ok and res.kind == "reset"
        target = res.value[1]["admissible_actions"][0]  # a "go to ..." action
        pool.step(0, target)
        (res,) = pool.wait()
        before = res.value[0]
        pool.reset(1, seen_ids[1])  # in flight for ~1 s: kill the worker during it
        os.kill(pool.worker_pids()[0], signal.SIGKILL)
        (res,) = pool.wait()
        assert (res.eid, res.kind, res.ok) == (1, "reset", False) and "during reset" in res.value
        pool.step(0, "look")  # episode 0 was rebuilt on the new worker by replaying its action
        (res,) = pool.wait()
        assert res.ok and res.eid == 0 and pool.restarts == 1
    env = AlfworldEnv(cfg)  # the same two actions on an undisturbed env
    env.reset(seen_ids[0])
    assert env.step(target)[0] == before
    assert env.step("look")[0] == res.value[0]
    env.close()


def test_eval_cli_writes_results_and_traces(tmp_path, seen_ids):
    cmd = [sys.executable, "-m", "repro", "eval", "--env", "alfworld", "--policy", "random", "--split", "valid_seen",
           "--limit", "2", "--episodes-per-game", "2", "--run-name", "r", "env.max_steps=4", "rollout.num_workers=2",
           f"results_dir={tmp_path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    m = {name: metric["value"] for name, metric in results["metrics"].items()}
    assert results["policy"] == "random" and results["counts"]["episodes_per_task"] == 2
    assert results["counts"]["episodes"] == 4 and results["sampling"] is None  # scripted: no sampling
    assert m["mean_steps"] <= 4 and m["invalid_action_rate"] == 0.0 and "success_rate" in m
    samples = [json.loads(line) for line in (tmp_path / "r" / "samples.jsonl").read_text().splitlines()]
    first_two = AlfworldEnv.evaluation_subset(seen_ids, 2, seed=0)
    assert [s["task"] for s in samples] == [first_two[0]] * 2 + [first_two[1]] * 2
    for s in samples:
        assert s["steps"] == len(s["trace"]) and s["trace"][0]["observation"].startswith("-= Welcome")
        assert all(t["action"] in t["admissible_actions"] for t in s["trace"])
    assert "success by AlfworldEnv bucket" in out.stdout


def test_eval_cli_rejects_bad_input(tmp_path):
    for args, msg in ((["--policy", "oracle"], "unknown scripted policy 'oracle'"),
                      (["--split", "valid"], "unknown ALFWorld split 'valid'")):
        out = subprocess.run([sys.executable, "-m", "repro", "eval", "--env", "alfworld", *args,
                              f"results_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and msg in out.stderr and "Traceback" not in out.stderr


def test_an_archive_that_does_not_match_the_registry_is_not_unpacked(tmp_path):
    from repro.envs.alfworld import _unpack, registered_sha256

    archive = tmp_path / "json_2.1.1_train.tar.xz"
    archive.write_bytes(b"not the archive")
    with pytest.raises(ReproError, match="does not match its registered sha256"):
        _unpack(archive, "train", tmp_path / "cache" / "train", registered_sha256("alfworld/json_2.1.1_train.tar.xz"))
    assert not (tmp_path / "cache").exists()


def test_a_hostile_archive_is_refused_in_one_line_and_leaves_nothing(tmp_path):
    """An archive whose sha256 matched (a forged registry, say) is still unpacked with
    filter="data": a member that climbs out of the target is refused, nothing is left."""
    import io
    import tarfile

    from repro.data.checksums import sha256_file
    from repro.envs.alfworld import _unpack

    archive = tmp_path / "hostile.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        payload = b"escaped"
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    cache = tmp_path / "cache" / "a" / "b"
    with pytest.raises(ReproError, match="holds an unsafe member, refused"):
        _unpack(archive, "train", cache / "train", sha256_file(archive))
    assert not list(tmp_path.rglob("escaped.txt")) and list(cache.iterdir()) == []
    truncated = tmp_path / "truncated.tar.xz"
    truncated.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(ReproError, match="cannot unpack ALFWorld archive"):
        _unpack(truncated, "train", cache / "train", sha256_file(truncated))
