"""`repro train model.backend=vllm` as far as a CPU allows: the engine's training configuration and
the lazy import's one-line error (the weight sync itself needs a GPU and vLLM)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from repro.policy.vllm import training_engine_kwargs

ROOT = Path(__file__).resolve().parents[1]


def test_engine_inside_a_training_process_sleeps_and_seeds_per_rank():
    single = training_engine_kwargs(world_size=1, rank=0)
    assert single == {"enable_sleep_mode": True, "tensor_parallel_size": 1, "seed": 0, "gpu_memory_utilization": 0.6}
    ranks = [training_engine_kwargs(world_size=4, rank=r) for r in range(4)]
    assert all(k["distributed_executor_backend"] == "external_launcher" for k in ranks)
    assert len({k["seed"] for k in ranks}) == 4


def test_training_with_vllm_missing_is_a_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "repro", "train", "-c", str(ROOT / "benchmarks/gigpo/cpu/webshop_grpo.yaml"),
                          "model.backend=vllm", "model.device=cuda", "iterations=1", f"results_dir={tmp_path}"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "pip install 'repro[vllm]'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
