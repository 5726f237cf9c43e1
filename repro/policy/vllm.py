"""vLLM backend (optional extra, CUDA): the same contract as :class:`repro.policy.hf.HFPolicy`.

vLLM is imported inside :meth:`VLLMPolicy.from_config` only, so nothing else needs it installed.
Log-prob convention caveat: the engine is built with ``logprobs_mode="processed_logprobs"``,
which gives ``log softmax(logits / T)`` of the sampled token; with top-p < 1 or top-k > 0 vLLM
renormalises over the kept tokens (vllm#42259), so train at top-p = 1 and top-k = 0 when the
sampled log-probs feed the PPO ratio. Scoring uses prompt log-probs, which vLLM computes at T = 1.

Training with vLLM (``repro train model.backend=vllm``, peers.md §4.2 "SPMD colocate"): every
training process builds its own engine (tensor parallel 1; under torchrun with vLLM's
``external_launcher`` executor, one seed per rank) with sleep mode on. The trainer keeps its own
HF copy of the weights (FSDP2-sharded under torchrun), puts the engine to sleep (level 2: weights
and KV cache freed) for the update, then :meth:`VLLMPolicy.load_weights` wakes the weights, loads
the trainer's full state dict, resets the prefix cache (cached KV of the old weights is stale) and
wakes the KV cache. The trainer logs ``logprob_mismatch_{mean,max}`` between the engine's sampled
log-probs and its own recomputation every iteration: the first number to watch on a GPU run.

Install on a GPU machine (Linux x86_64, NVIDIA driver for CUDA 12, Python 3.11); vLLM pins its own
torch build, so install it first and let repro reuse that torch::

    python3.11 -m venv .venv && . .venv/bin/activate
    pip install 'vllm==0.33.0'      # the tested version (pyproject's `vllm` extra); brings its CUDA torch
    pip install -e '.[vllm]'        # repro itself; the extra pins the same vLLM, torch is left alone
    python -c "import vllm, torch; print(vllm.__version__, torch.__version__, torch.cuda.is_available())"
    repro train -c benchmarks/gigpo/alfworld_grpo.yaml model.backend=vllm model.path=/path/to/Qwen2.5-1.5B-Instruct
    torchrun --standalone --nproc-per-node 2 -m repro train -c benchmarks/gigpo/alfworld_grpo.yaml model.backend=vllm ...
"""

from __future__ import annotations

from typing import Sequence

from repro.config.schema import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy.base import Generation
from repro.policy.tiny import resolve_model_path

INSTALL_HINT = "vLLM is not installed; on a CUDA machine run: pip install 'repro[vllm]'"
# where vLLM 0.33's LLM keeps the in-process model (one worker per process: TP 1 / external_launcher)
ENGINE_MODEL_PATH = ("llm_engine", "model_executor", "driver_worker", "worker", "model_runner", "model")


def training_engine_kwargs(world_size: int, rank: int, gpu_memory_utilization: float = 0.6) -> dict:
    """``vllm.LLM`` keyword arguments for an engine that lives inside training process ``rank``
    (a pure mapping): sleep mode for the update, torchrun's processes as vLLM's workers, and a
    seed per rank so ranks do not draw the same responses (gigpo.md §3: utilisation 0.6)."""
    kwargs = {"enable_sleep_mode": True, "tensor_parallel_size": 1, "seed": rank,
              "gpu_memory_utilization": gpu_memory_utilization}
    if world_size > 1:
        kwargs["distributed_executor_backend"] = "external_launcher"
    return kwargs


def sampling_params_kwargs(sampling: SamplingConfig, index: int = 0) -> dict:
    """``vllm.SamplingParams`` keyword arguments for request ``index`` of a batch (a pure
    mapping). Each request gets its own seed: vLLM seeds per request, so repeated prompts (a
    GRPO group) with one shared seed would all draw the same response."""
    sampling.validate()
    greedy = sampling.temperature == 0
    return {
        "n": 1,
        "temperature": sampling.temperature,
        "top_p": 1.0 if greedy else sampling.top_p,
        "top_k": -1 if greedy or sampling.top_k == 0 else sampling.top_k,  # vLLM: -1 = off
        "max_tokens": sampling.max_new_tokens,
        "stop": list(sampling.stop),
        "include_stop_str_in_output": True,  # the stop string stays in the response (as in hf)
        "skip_special_tokens": False,  # keep "</think>" in the text
        "seed": sampling.seed + index,
        "logprobs": 0,  # the sampled token's own log-prob only
    }


class VLLMPolicy:
    def __init__(self, llm, tokenizer, end_of_think_id: int | None):
        self.llm = llm
        self.tokenizer = tokenizer
        self.end_of_think_id = end_of_think_id

    @classmethod
    def from_config(cls, model_cfg: ModelConfig, **engine_kwargs) -> "VLLMPolicy":
        """``engine_kwargs`` go to ``vllm.LLM`` (e.g. ``gpu_memory_utilization``,
        ``tensor_parallel_size``)."""
        try:
            import vllm
        except ImportError as e:
            raise ReproError(INSTALL_HINT) from e
        from repro.policy.hf import single_token_id

        model_cfg.validate()
        if model_cfg.device == "cpu":
            raise ReproError("the vllm backend runs on CUDA only; use model.backend=hf for model.device=cpu")
        model_dir = resolve_model_path(model_cfg.path)
        dtype = "bfloat16" if model_cfg.dtype == "auto" else model_cfg.dtype
        llm = vllm.LLM(model=str(model_dir), dtype=dtype, logprobs_mode="processed_logprobs", **engine_kwargs)
        tokenizer = llm.get_tokenizer()
        return cls(llm, tokenizer, single_token_id(tokenizer, "</think>"))

    def sleep(self) -> None:
        """Free the engine's GPU memory (weights and KV cache) while the trainer updates."""
        self.llm.sleep(level=2)

    def load_weights(self, state_dict: dict) -> None:
        """The weight sync after an update: wake weights → load the trainer's full state dict →
        reset the prefix cache → wake the KV cache."""
        self.llm.wake_up(tags=["weights"])
        model = self.llm
        for attribute in ENGINE_MODEL_PATH:
            if not hasattr(model, attribute):
                raise ReproError(f"this vLLM has no LLM.{'.'.join(ENGINE_MODEL_PATH)} to load weights into; "
                                 f"use the tested version (pip install 'repro[vllm]')")
            model = getattr(model, attribute)
        model.load_weights(weights=state_dict.items())
        self.llm.reset_prefix_cache()
        self.llm.wake_up(tags=["kv_cache"])

    def chat_prompt(self, messages: list[dict[str, str]], **template_kwargs) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **template_kwargs)
        return self.tokenizer.encode(text, add_special_tokens=False)

    def sample(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig) -> list[Generation]:
        import vllm

        params = [vllm.SamplingParams(**sampling_params_kwargs(sampling, i)) for i in range(len(prompts))]
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params, use_tqdm=False)
        generations = []
        for prompt, out in zip(prompts, outputs):
            completion = out.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [step[token].logprob for step, token in zip(completion.logprobs, ids)]
            finish = "length" if completion.finish_reason == "length" else "stop"
            generations.append(Generation(list(prompt), ids, logprobs, completion.text, finish))
        return generations

    def score(
        self, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], temperature: float = 1.0
    ) -> list[list[float]]:
        import vllm

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
