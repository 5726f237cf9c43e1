"""The main job as a researcher runs it (issue 16): the plan before work, log lines that reach a file
while the run goes on, consoles per run kind, rows the tool can read back, an eval of a trained
model on the env it trained on, math evals at the papers' sampling, runs that are never silently
overwritten, `repro --version`, `repro ls runs`. Real runs: a short GiGPO run of the tiny model on
the 3x3 maze, real scripted and model evals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from repro.io import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
MAZE_GIGPO = ROOT / "benchmarks" / "learning" / "maze_gigpo.yaml"
ITERATIONS = 6
HEARTBEAT_S = 0.05  # far below an iteration (~0.4 s here), so every rollout shows one


def repro(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, **kwargs)


@pytest.fixture(scope="module")
def maze_run(tmp_path_factory, tiny_model_dir) -> dict:
    """`repro train` (GiGPO, the tiny model, the 3x3 maze, validation every 2 iterations, rows dumped)
    with stdout to a file, as under nohup: what the file held while the run was still going."""
    root = tmp_path_factory.mktemp("maze")
    log = root / "train.log"
    args = ["train", "-c", str(MAZE_GIGPO), "model.path=tiny", f"results_dir={root}", "run_name=run",
            f"iterations={ITERATIONS}", "tasks_per_iteration=2", "group_size=2", "eval_every=2",
            "validation.episodes=4", "dump_rows=true"]
    env = {**os.environ, "REPRO_HEARTBEAT_S": str(HEARTBEAT_S)}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "repro", *args], stdout=out, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env=env)
        seen_while_running = None
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            if f"iteration 1/{ITERATIONS} done" in log.read_text():
                seen_while_running = log.read_text()
                break
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    return {"run": root / "run", "log": log.read_text(), "while_running": seen_while_running, "root": root}


def test_the_log_file_shows_each_iteration_while_the_run_goes_on(maze_run):
    assert maze_run["while_running"] is not None, "the first iteration's line reached the file only after the run"
    log = maze_run["log"]
    assert log.startswith("plan: repro train gigpo on maze")  # the plan comes before any work
    assert "\x1b[" not in log  # plain lines: no live view's cursor movements in a log
    done = [line for line in log.splitlines() if " done in " in line]
    assert [line.split("iteration ")[1].split(" ")[0] for line in done] == [f"{i}/{ITERATIONS}" for i in
                                                                             range(1, ITERATIONS + 1)]
    assert all(" · eta " in line for line in done) and "estimate: " in log
    # no metric the run does not compute shows as a number: maze_gigpo trains without KL and entropy terms
    assert all("kl -" in line and "ent -" in line for line in done)
    lines = read_jsonl(maze_run["run"] / "metrics.jsonl")
    assert "kl" not in lines[0] and "entropy" not in lines[0]


def test_heartbeats_keep_the_log_alive_inside_an_iteration(maze_run):
    beats = [line for line in maze_run["log"].splitlines() if ": rollout" in line or ": validation" in line]
    assert beats, "no heartbeat line while the run worked"
    assert any("episodes" in line for line in beats) and all(" · eta " in line for line in beats)


def test_the_end_shows_the_full_history_then_validation_first(maze_run):
    log = maze_run["log"]
    history = log[log.index("iter  succ"):].splitlines()[: ITERATIONS + 1]
    assert [row.split()[0] for row in history[1:]] == [str(i) for i in range(1, ITERATIONS + 1)]  # every iteration
    assert all(len(row) <= 80 for row in history) and "…" not in log
    val = [row.split()[9] for row in history[1:]]
    assert val[0] == "-" and val[1] != "-"  # validation ran at iteration 2 and shows there
    summary = log[log.index("repro train gigpo on maze"):]
    assert summary.index("validation at iteration 6") < summary.index("last training iteration (6)")
    results = json.loads((maze_run["run"] / "results.json").read_text())
    assert f"success_rate             {results['metrics']['success_rate']['value']:.4g}" in summary


def test_repro_advantages_reads_the_rows_a_training_run_dumped(maze_run):
    run = maze_run["run"]
    options = yaml.safe_load((run / "config.yaml").read_text())["advantage"]
    dumped = run / "rows" / "iter_000001.jsonl"
    trained = read_jsonl(dumped)
    assert len(trained) == read_jsonl(run / "metrics.jsonl")[0]["rows"]
    out = repro("advantages", "--algo", "gigpo", "--rows", str(dumped), *[f"{k}={v}" for k, v in options.items()])
    assert out.returncode == 0, out.stderr
    recomputed = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["advantage"] for r in recomputed] == pytest.approx([r["advantage"] for r in trained], abs=1e-12)
    assert any(r["advantage"] != 0 for r in trained) or all(r["reward"] == 0 for r in trained)
    # the episodes of a samples file are not step rows: one line that says where the rows are
    samples = run / "samples" / "iter_000001.jsonl"
    out = repro("advantages", "--algo", "gigpo", "--rows", str(samples))
    assert out.returncode == 2 and "dump_rows=true" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_eval_of_a_trained_model_uses_the_env_it_trained_on(maze_run):
    run, root = maze_run["run"], maze_run["root"]
    out = repro("eval", "--env", "maze", "--model", str(run / "model"), "--limit", "2", "--run-name", "inherited",
                f"results_dir={root}", "model.num_threads=1", "rollout.num_workers=1")
    assert out.returncode == 0, out.stderr[-3000:]
    config = yaml.safe_load((root / "inherited" / "config.yaml").read_text())
    trained = yaml.safe_load((run / "config.yaml").read_text())
    assert config["env"] == trained["env"] and config["env"]["size"] == 3  # the maze default is 4
    assert config["sampling"]["temperature"] == trained["validation"]["sampling"]["temperature"] == 0.4
    note = [line for line in out.stdout.splitlines() if line.startswith("env settings and validation sampling from")]
    assert len(note) == 1 and "env.size=3" in note[0] and "sampling.temperature=0.4" in note[0]
    # an override still wins, over the run's settings only where it is given
    from repro.eval.config import build_eval_config

    cfg = build_eval_config("maze", None, [f"model.path={run / 'model'}", "env.size=4"])
    assert cfg.env.size == 4 and cfg.env.max_steps == trained["env"]["max_steps"] == 4  # maze default: 8
    out = repro("eval", "--env", "maze", "--model", str(run / "model"), "--run-name", "dry", f"results_dir={root}",
                "--dry-run")
    assert out.returncode == 0 and out.stdout.startswith("plan: repro eval maze") and not (root / "dry").exists()


def test_math_eval_defaults_to_the_papers_sampling():
    from repro.eval.config import build_eval_config

    cfg = build_eval_config("gsm8k", None, [])
    assert (cfg.sampling.temperature, cfg.sampling.top_p, cfg.sampling.max_new_tokens) == (0.6, 0.95, 256)  # tiny's cap
    cfg = build_eval_config("gsm8k", None, ["model.path=/models/Qwen3-8B"])
    assert cfg.sampling.max_new_tokens == 32768
    assert build_eval_config("gsm8k", None, ["sampling.temperature=0"]).sampling.temperature == 0
    assert build_eval_config("maze", None, []).sampling.temperature == 1.0  # agents: unchanged


def test_eval_refuses_an_existing_run_unless_fresh(tmp_path):
    args = ["eval", "--env", "maze", "--policy", "random", "--limit", "2", "--run-name", "r", f"results_dir={tmp_path}",
            "rollout.num_workers=1"]
    assert repro(*args).returncode == 0
    first = (tmp_path / "r" / "results.json").read_text()
    out = repro(*args)
    assert out.returncode == 2 and "already holds a run" in out.stderr and "--fresh" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and (tmp_path / "r" / "results.json").read_text() == first
    assert repro(*args, "--fresh").returncode == 0
    assert json.loads((tmp_path / "r" / "results.json").read_text())["schema_version"] == 2


def test_dry_run_prints_the_paper_plan_and_says_it_is_a_cpu(tmp_path):
    out = repro("train", "--algo", "gigpo", "--env", "alfworld", "--dry-run", f"results_dir={tmp_path}",
                "model.device=cpu")
    assert out.returncode == 0, out.stderr
    plan = out.stdout
    for text in ("iterations     150", "16 tasks x 8 trajectories, ≤ 50 steps each", "≤ 512 new tokens",
                 "tiny (cpu, hf backend)", f"results        {tmp_path}/train-gigpo-alfworld/"):
        assert text in plan, text
    assert "paper protocol" in plan and "-c benchmarks/gigpo/cpu/alfworld_gigpo_nostd.yaml" in plan
    assert not any(tmp_path.iterdir())  # nothing ran, nothing was written
    out = repro("train", "-c", str(ROOT / "benchmarks" / "gigpo" / "cpu" / "alfworld_gigpo_std.yaml"), "--dry-run",
                f"results_dir={tmp_path}")
    assert out.returncode == 0 and "paper protocol" not in out.stdout  # a CPU-sized run gets no warning


def test_version_and_ls_runs(maze_run):
    out = repro("--version")
    assert out.returncode == 0 and out.stdout.startswith("repro 0.") and "commit" in out.stdout
    out = repro("ls", "runs", str(maze_run["root"]))
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "│ run " in line)
    assert "maze" in row and "finished" in row and "success_rate" in row
    out = repro("ls", "runs", str(maze_run["root"] / "missing"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
