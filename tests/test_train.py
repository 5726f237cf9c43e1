"""`repro train` end to end on the real ALFWorld games with the real tiny model, and exact resume."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.io import read_jsonl
from repro.trainer.metrics import without_timing

ROOT = Path(__file__).resolve().parents[1]
CPU_CONFIGS = ROOT / "benchmarks" / "gigpo" / "cpu"
# small enough for CI: 2 tasks x 2 trajectories, 3 steps, short replies
SMALL = ["env.max_steps=3", "sampling.max_new_tokens=16", "eval_every=0"]


def repro(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=ROOT, **kwargs)


def train_args(results: Path, name: str, *extra: str, config: str = "alfworld_gigpo_std") -> list[str]:
    return ["train", "-c", str(CPU_CONFIGS / f"{config}.yaml"), f"results_dir={results}", f"run_name={name}", *SMALL, *extra]


@pytest.mark.parametrize("algo, config", [("gigpo", "alfworld_gigpo_std"), ("grpo", "alfworld_grpo"),
                                          ("rloo", "alfworld_rloo"), ("gigpo", "webshop_gigpo_nostd")])
def test_two_iterations_write_checkpoints_and_metrics(tmp_path, tiny_model_dir, algo, config):
    extra = ["eval_every=2", "validation.episodes=2"] if config == "alfworld_gigpo_std" else []
    out = repro(*train_args(tmp_path, "run", "iterations=2", "save_every=1", *extra, config=config), "--algo", algo)
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "run"
    lines = read_jsonl(run / "metrics.jsonl")
    assert [line["iteration"] for line in lines] == [1, 2]
    for line in lines:
        assert line["episodes"] == 4 and line["rows"] > 0 and line["optimizer_steps"] >= 1
        assert 0 <= line["success_rate"] <= 1 and 0 <= line["invalid_action_rate"] <= 1
        # the HF sampler's log-probs are the trainer's up to float noise
        assert line["logprob_mismatch_max"] < 1e-4
        assert line["kl"] >= 0 and line["entropy"] > 0
        assert set(line["timing"]) >= {"rollout_s", "env_s", "advantage_s", "update_s", "tokens_per_s", "peak_rss_mb"}
        assert ("step_group_size_mean" in line) == (algo == "gigpo")
    # KL to the frozen reference grows from ~0 once the weights have moved
    assert lines[1]["kl"] > 0
    assert (run / "checkpoints" / "latest").read_text().strip() == "iter_000002"
    assert (run / "checkpoints" / "iter_000001" / "state.json").is_file()
    assert (run / "config.yaml").read_text().count(f"algo: {algo}") == 1
    # every iteration's episodes are kept, one file each
    assert [len(read_jsonl(run / "samples" / f"iter_00000{i}.jsonl")) for i in (1, 2)] == [4, 4]
    if extra:
        assert "val_success_rate" in lines[1] and len(read_jsonl(run / "validation" / "iter_000002.jsonl")) == 2
        results = json.loads((run / "results.json").read_text())
        assert results["schema_version"] == 2 and results["kind"] == "train" and results["algo"] == algo
        success = results["metrics"]["success_rate"]
        assert success["value"] == lines[1]["val_success_rate"] and success["stderr"] is not None
        assert results["counts"]["episodes"] == 2 and results["details"]["validation_iteration"] == 2
        assert len(results["model"]["sha256"]) == 64 and results["sampling"]["temperature"] == 0.4
        assert len(results["details"]["exported_model"]["sha256"]) == 64
    # the console: the full history as a plain table that reads at 80 columns, the summary after it
    history = out.stdout[out.stdout.index("iter  succ"):].splitlines()
    assert [h.split()[0] for h in history[1:3]] == ["1", "2"]
    assert all(len(h) <= 80 for h in history[:3]) and "…" not in out.stdout


def run_and_kill(args: list[str], ready) -> None:
    """Start `repro train`, SIGKILL its whole process group (trainer + env workers) once ``ready()``."""
    proc = subprocess.Popen([sys.executable, "-m", "repro", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not ready():
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


@pytest.mark.slow
def test_kill_and_resume_reproduces_the_uninterrupted_run(tmp_path, tiny_model_dir):
    common = ["iterations=4", "save_every=2"]
    out = repro(*train_args(tmp_path, "straight", *common))
    assert out.returncode == 0, out.stderr[-3000:]
    expected = [without_timing(line) for line in read_jsonl(tmp_path / "straight" / "metrics.jsonl")]
    assert [line["iteration"] for line in expected] == [1, 2, 3, 4]

    run = tmp_path / "killed"
    args = train_args(tmp_path, "killed", *common)
    # 1) killed right after the checkpoint of iteration 2 appears
    run_and_kill(args, lambda: (run / "checkpoints" / "latest").is_file())
    assert (run / "checkpoints" / "latest").read_text().strip() == "iter_000002"
    # 2) resumed, then killed between checkpoints: iteration 3 is logged but not saved
    run_and_kill(args, lambda: (run / "metrics.jsonl").read_text().count("\n") >= 3)
    assert (run / "checkpoints" / "latest").read_text().strip() == "iter_000002"
    # 3) resumed to the end: iteration 3 redone once, nothing skipped or duplicated, every number equal
    out = repro(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "iter_000002 (iteration 2)" in out.stdout  # resumed, not restarted (that would match too)
    assert [without_timing(line) for line in read_jsonl(run / "metrics.jsonl")] == expected


def test_resume_refuses_a_changed_config(tmp_path, tiny_model_dir):
    assert repro(*train_args(tmp_path, "run", "iterations=1", config="webshop_grpo")).returncode == 0
    out = repro(*train_args(tmp_path, "run", "iterations=2", "optim.lr=0.5", config="webshop_grpo"))
    assert out.returncode == 2 and "different config (optim.lr)" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    # --fresh starts over (iteration 1 again, with the new config)
    assert repro(*train_args(tmp_path, "run", "iterations=1", "optim.lr=0.5", config="webshop_grpo"), "--fresh").returncode == 0
    assert [r["iteration"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")] == [1]


@pytest.mark.parametrize("args, message", [
    (["--algo", "gigpoo", "--env", "alfworld"], "unknown algo 'gigpoo' (did you mean 'gigpo'?)"),
    (["--algo", "sgrpo", "--env", "alfworld"], "does not estimate advantages from step rows"),
    (["--algo", "gigpo", "--env", "gsm8k"], "does not train on math envs"),
    (["--algo", "grpo"], "no env given"),
    (["--algo", "grpo", "--env", "alfworld", "loss.dual_clip=0.5"], "dual_clip"),
    (["--algo", "grpo", "--env", "alfworld", "mini_batch_rowz=4"], "did you mean 'mini_batch_rows'"),
    (["--algo", "grpo", "--env", "alfworld", "logprob_mismatch=some"], "logprob_mismatch must be first_mini_batch or all_rows"),
    (["--algo", "grpo", "--env", "alfworld", "env.engine_cache_games=-1"], "env.engine_cache_games must be >= 0"),
    # the recipe is chosen from these sections, so a stray one would switch the trainer
    (["--algo", "grpo", "--env", "maze", "math.oversample=3"], "math.* settings apply to math envs only"),
    (["--algo", "grpo", "--env", "maze", "critic.lr=1e-4"], "critic.* settings apply to algo ppo only"),
])
def test_bad_input_is_one_line(args, message):
    out = repro("train", *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_every_benchmark_config_validates():
    from repro.trainer.config import build_train_config

    gigpo = ROOT / "benchmarks" / "gigpo"
    configs = sorted(gigpo.glob("*.yaml")) + sorted((gigpo / "cpu").glob("*.yaml"))
    assert len(configs) == 20  # {alfworld, webshop} x {gigpo std/nostd, grpo, rloo, ppo} x {paper, cpu}
    for path in configs:
        assert path.read_text().startswith("# "), path
        cfg = build_train_config(None, None, path, [])
        assert cfg.run_name == ("cpu-" if path.parent.name == "cpu" else "") + path.stem
        assert cfg.validation.sampling.temperature == 0.4 and cfg.loss.dual_clip == 3.0
    out = repro("validate", str(configs[0]), "iterations=3")
    assert out.returncode == 0, out.stderr
    assert "ok:" in out.stderr and "iterations: 3" in out.stdout


def test_validate_reads_every_kind_of_config():
    for config, kind in (("learning/maze_eval.yaml", "eval"), ("learning/maze_sft.yaml", "sft"),
                         ("gigpo/eval/webshop_prompting.yaml", "eval")):
        out = repro("validate", str(ROOT / "benchmarks" / config))
        assert out.returncode == 0, out.stderr
        assert f"is a valid '{kind}' config" in out.stderr and f"command: {kind}" in out.stdout


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed")
def test_asking_for_a_missing_tracker_is_one_line(tmp_path, tiny_model_dir):
    out = repro(*train_args(tmp_path, "run", "iterations=1", "report_to=[tensorboard]", config="webshop_grpo"))
    assert out.returncode == 2 and "tensorboard is not installed" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
