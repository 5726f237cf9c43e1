"""`repro train model.backend=vllm`: the engine's training configuration, the one-line errors, and
(``vllm``-marked, the real CPU engine) GiGPO, PPO and S-GRPO for 2 iterations with a checkpoint
and a resume, the engine's sampled log-probs equal to the trainer's recomputation every iteration."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from repro.io import read_jsonl
from repro.policy.vllm import training_engine_kwargs

ROOT = Path(__file__).resolve().parents[1]
GIGPO_CPU = ROOT / "benchmarks" / "gigpo" / "cpu"
SGRPO_CPU = ROOT / "benchmarks" / "sgrpo" / "cpu"
# (algo, env, config, overrides that keep an iteration short)
RECIPES = {
    "gigpo": ("gigpo", "alfworld", GIGPO_CPU / "alfworld_gigpo_std.yaml",
              ["env.max_steps=3", "sampling.max_new_tokens=16", "eval_every=2", "validation.episodes=2"]),
    "ppo": ("ppo", "alfworld", GIGPO_CPU / "alfworld_ppo.yaml",
            ["env.max_steps=3", "sampling.max_new_tokens=16", "eval_every=0"]),
    "sgrpo": ("sgrpo", "gsm8k", SGRPO_CPU / "gsm8k_sgrpo.yaml", ["eval_every=2"]),
}


def repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=ROOT, timeout=900)


def test_engine_inside_a_training_process_seeds_per_rank():
    single = training_engine_kwargs(world_size=1, rank=0)
    assert single == {"tensor_parallel_size": 1, "seed": 0, "gpu_memory_utilization": 0.6}
    ranks = [training_engine_kwargs(world_size=4, rank=r) for r in range(4)]
    assert all(k["distributed_executor_backend"] == "external_launcher" for k in ranks)
    assert len({k["seed"] for k in ranks}) == 4


def test_training_with_vllm_missing_is_a_one_line_error(tmp_path):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed in this environment; the error is for environments without it")
    out = repro("train", "-c", str(GIGPO_CPU / "webshop_grpo.yaml"), "model.backend=vllm", "iterations=1",
                f"results_dir={tmp_path}")
    assert out.returncode == 2 and "pip install 'repro[vllm]'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.vllm
def test_training_on_a_device_the_vllm_build_lacks_is_a_one_line_error(tmp_path):
    out = repro("train", "-c", str(GIGPO_CPU / "webshop_grpo.yaml"), "model.backend=vllm", "model.device=cuda",
                "iterations=1", f"results_dir={tmp_path}")
    assert out.returncode == 2 and "this vLLM build runs on cpu" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_two_iterations_with_vllm_checkpoint_and_resume(tmp_path, tiny_model_dir, recipe):
    algo, env, config, overrides = RECIPES[recipe]
    args = ["train", "--algo", algo, "--env", env, "-c", str(config), "model.backend=vllm", "save_every=1",
            f"results_dir={tmp_path}", "run_name=run", *overrides]
    first = repro(*args, "iterations=1")
    assert first.returncode == 0, first.stderr[-3000:]
    second = repro(*args, "iterations=2")  # a new process: resumes from iteration 1's checkpoint
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from checkpoint" in second.stdout and "(iteration 1)" in second.stdout  # progress lines go to stdout

    run = tmp_path / "run"
    lines = read_jsonl(run / "metrics.jsonl")
    assert [line["iteration"] for line in lines] == [1, 2]  # nothing lost or duplicated
    for line in lines:
        assert line["rows"] > 0 and line["optimizer_steps"] >= 1
        # the engine's sampled log-probs are the trainer's (HF, fp32) recomputation, also after
        # the weight sync that followed iteration 1's update and the resume
        assert line["logprob_mismatch_max"] < 1e-4
    assert (run / "checkpoints" / "latest").read_text().strip() == "iter_000002"
    assert (run / "checkpoints" / "iter_000001" / "state.json").is_file()
    assert "backend: vllm" in (run / "config.yaml").read_text()
    if recipe != "ppo":
        assert any(key.startswith("val_") for key in lines[1])
