"""The vLLM backend as far as a CPU machine allows: the lazy import and the parameter mapping."""

from __future__ import annotations

import importlib.util

import pytest

from repro.config import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy import load_policy
from repro.policy.vllm import sampling_params_kwargs


def test_missing_vllm_is_a_one_line_error_with_the_install_command():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ReproError, match=r"pip install 'repro\[vllm\]'"):
        load_policy(ModelConfig(backend="vllm"))


def test_sampling_config_maps_to_vllm_sampling_params():
    kwargs = sampling_params_kwargs(SamplingConfig(temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=300, stop=["</answer>"], seed=7))
    assert kwargs == {
        "n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "max_tokens": 300, "stop": ["</answer>"],
        "include_stop_str_in_output": True, "skip_special_tokens": False, "seed": 7, "logprobs": 0,
    }


def test_each_request_of_a_batch_gets_its_own_seed():
    sampling = SamplingConfig(seed=100)
    assert [sampling_params_kwargs(sampling, i)["seed"] for i in range(3)] == [100, 101, 102]


def test_greedy_and_top_k_off_map_to_vllm_conventions():
    kwargs = sampling_params_kwargs(SamplingConfig(temperature=0.0, top_p=0.5, top_k=0))
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["top_k"]) == (0.0, 1.0, -1)
    assert sampling_params_kwargs(SamplingConfig(top_k=0))["top_k"] == -1


def test_bad_sampling_values_are_rejected_before_vllm():
    with pytest.raises(ReproError, match="top_p"):
        sampling_params_kwargs(SamplingConfig(top_p=0.0))
