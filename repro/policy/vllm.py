"""vLLM backend (optional extra, CUDA): the same contract as :class:`repro.policy.hf.HFPolicy`.

vLLM is imported inside :meth:`VLLMPolicy.from_config` only, so nothing else needs it installed.
Log-prob convention caveat: the engine is built with ``logprobs_mode="processed_logprobs"``,
which gives ``log softmax(logits / T)`` of the sampled token; with top-p < 1 or top-k > 0 vLLM
renormalises over the kept tokens (vllm#42259), so train at top-p = 1 and top-k = 0 when the
sampled log-probs feed the PPO ratio. Scoring uses prompt log-probs, which vLLM computes at T = 1.
"""

from __future__ import annotations

from typing import Sequence

from repro.config.schema import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy.base import Generation
from repro.policy.tiny import resolve_model_path

INSTALL_HINT = "vLLM is not installed; on a CUDA machine run: pip install 'repro[vllm]'"


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
