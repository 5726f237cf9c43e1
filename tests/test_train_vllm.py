"""`repro train model.backend=vllm` as far as a CPU allows: the engine's training configuration and
the lazy import's one-line error (the weight sync itself needs a GPU and vLLM)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from repro.policy.vllm import ENGINE_MODEL_PATH, VLLMPolicy, training_engine_kwargs

ROOT = Path(__file__).resolve().parents[1]


def test_engine_inside_a_training_process_sleeps_and_seeds_per_rank():
    single = training_engine_kwargs(world_size=1, rank=0)
    assert single == {"enable_sleep_mode": True, "tensor_parallel_size": 1, "seed": 0, "gpu_memory_utilization": 0.6}
    ranks = [training_engine_kwargs(world_size=4, rank=r) for r in range(4)]
    assert all(k["distributed_executor_backend"] == "external_launcher" for k in ranks)
    assert len({k["seed"] for k in ranks}) == 4


class RecordingLLM:
    """Stands in for vllm.LLM's sleep/wake/cache surface only, to pin the order of the sync."""

    def __init__(self):
        self.calls: list[str] = []
        node = self
        for name in ENGINE_MODEL_PATH[:-1]:
            child = type(name, (), {})()
            setattr(node, name, child)
            node = child
        recorder = self

        class Model:
            def load_weights(self, weights):
                recorder.calls.append(f"load_weights:{sorted(dict(weights))}")

        setattr(node, ENGINE_MODEL_PATH[-1], Model())

    def wake_up(self, tags):
        self.calls.append(f"wake_up:{tags}")

    def reset_prefix_cache(self):
        self.calls.append("reset_prefix_cache")


def test_weight_sync_wakes_weights_loads_resets_cache_then_wakes_kv():
    llm = RecordingLLM()
    VLLMPolicy(llm, tokenizer=None, end_of_think_id=None).load_weights({"b": 1, "a": 2})
    assert llm.calls == ["wake_up:['weights']", "load_weights:['a', 'b']", "reset_prefix_cache", "wake_up:['kv_cache']"]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_training_with_vllm_missing_is_a_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "repro", "train", "-c", str(ROOT / "benchmarks/gigpo/cpu/webshop_grpo.yaml"),
                          "model.backend=vllm", "model.device=cuda", "iterations=1", f"results_dir={tmp_path}"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "pip install 'repro[vllm]'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
