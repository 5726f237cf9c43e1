"""`repro eval --env webshop` end to end, and replay of recorded episodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from repro.envs.webshop import WebShopConfig, WebShopEnv
from repro.io import read_jsonl
from repro.rollout.scripted import run_scripted_episode

EPISODES = Path(__file__).parent / "data" / "webshop_episodes.jsonl"


def repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, timeout=600)


def test_replay_reproduces_recorded_rewards():
    env = WebShopEnv(WebShopConfig())
    recorded = [row["reward"] for row in read_jsonl(EPISODES)]
    pairs = WebShopEnv.replay_episodes(str(EPISODES))
    rewards = [run_scripted_episode(env, "replay", task, 0, kwargs, 0, i).task_score
               for i, (task, kwargs) in enumerate(pairs)]
    assert rewards == pytest.approx(recorded)
    assert 0.0 < min(r for r in recorded if r > 0) < 1.0 and max(recorded) == 1.0 and min(recorded) == 0.0


def test_eval_oracle_cli(tmp_path):
    proc = repro("eval", "--env", "webshop", "--policy", "oracle", "--split", "test", "--limit", "5",
                 "--run-name", "oracle5", f"results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "oracle5" / "results.json").read_text())
    metrics = {name: m["value"] for name, m in results["metrics"].items()}
    assert set(metrics) >= {"score", "success_rate", "mean_steps"}
    assert metrics["success_rate"] == 1.0 and metrics["score"] == 100.0 and 4 <= metrics["mean_steps"] <= 15
    assert results["metrics"]["success_rate"]["stderr"] == 0.0  # five tasks, every one won
    provenance = results["details"]["env_provenance"]
    assert provenance["goal_count"] == 6910 and provenance["goal_seed"] == 233
    assert results["counts"] == {"tasks": 5, "episodes_per_task": 1, "episodes": 5, "failed_episodes": 0}
    samples = read_jsonl(tmp_path / "oracle5" / "samples.jsonl")
    assert [s["task"] for s in samples] == ["0", "1", "2", "3", "4"]
    assert all(s["reward"] == 1.0 and s["trace"][-1]["action"] == "click[buy now]" for s in samples)

    # the tool's own samples replay: the same goals, the same actions, the same rewards
    proc = repro("eval", "--env", "webshop", "--policy", "replay", "--episodes", str(tmp_path / "oracle5" / "samples.jsonl"),
                 "--run-name", "replayed", f"results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    replayed = read_jsonl(tmp_path / "replayed" / "samples.jsonl")
    assert [s["reward"] for s in replayed] == [1.0] * 5
    assert [[t["action"] for t in s["trace"]] for s in replayed] == [[t["action"] for t in s["trace"]] for s in samples]


def test_eval_replay_cli_writes_rewards_in_input_order(tmp_path):
    proc = repro("eval", "--env", "webshop", "--policy", "replay", "--episodes", str(EPISODES),
                 "--run-name", "replay", f"results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    samples = read_jsonl(tmp_path / "replay" / "samples.jsonl")
    assert [s["reward"] for s in samples] == pytest.approx([row["reward"] for row in read_jsonl(EPISODES)])


def test_bad_episodes_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"goal": {"asin": "NOPE"}, "actions": []}\n')
    proc = repro("eval", "--env", "webshop", "--policy", "replay", "--episodes", str(bad), f"results_dir={tmp_path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
