"""The policy contract every backend implements (HF transformers, vLLM): :class:`Policy` declares
everything the rollout, the eval drivers and the trainer read from a policy, so a new backend is
complete when it satisfies it (``tests/test_policy_protocol.py`` checks each backend class).

Log-prob convention (the trainer relies on it): ``Generation.logprobs[i]`` is
``log softmax(logits / T)[token_i]`` over the *full* vocabulary, where ``T`` is the sampling
temperature (T = 0, greedy, is scored at T = 1). Top-p/top-k only restrict which token is drawn;
they do not renormalise the recorded log-prob. ``Policy.score(prompts, responses, temperature=T)``
returns exactly these numbers for given ids, so sampled log-probs equal the scoring path's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

from repro.config.schema import ModelConfig, SamplingConfig
from repro.errors import ReproError


@dataclass
class Generation:
    prompt_ids: list[int]
    response_ids: list[int]  # includes the stop token / EOS if one ended the response
    logprobs: list[float]  # one per response id (see module docstring)
    text: str  # decoded response, special tokens kept (e.g. "</think>")
    finish_reason: str  # "stop" (EOS or a stop string) | "length" (hit max_new_tokens)


@runtime_checkable
class Policy(Protocol):
    tokenizer: Any  # a transformers tokenizer (chat template, special tokens)
    model_dir: Path  # the model directory it loaded (results.json records and hashes it)
    stop_ids: list[int]  # token ids that end a response (EOS, ChatML's ends)
    pad_id: int  # pads batches: the tokenizer's pad token, else the first stop id (the trainer's scorer uses it)
    end_of_think_id: int | None  # the single "</think>" token, if the tokenizer has one

    @classmethod
    def from_config(cls, model_cfg: ModelConfig, **engine_kwargs: Any) -> Policy:
        """The policy of a :class:`repro.config.ModelConfig` (``path='tiny'``: the local tiny model);
        ``engine_kwargs`` are the backend's own engine settings."""
        ...

    def sample(
        self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig, seeds: Sequence[int] | None = None
    ) -> list[Generation]:
        """Sample one response per prompt (token ids); response ``i`` is a function of its prompt
        and its seed (:func:`request_seeds`) alone, whatever else is in the call."""
        ...

    def score(
        self,
        prompts: Sequence[Sequence[int]],
        responses: Sequence[Sequence[int]],
        temperature: float = 1.0,
    ) -> list[list[float]]:
        """Log-probs of ``responses[i]`` given ``prompts[i]`` under the current weights."""
        ...

    def load_weights(self, state_dict: dict) -> None:
        """Take the trainer's updated weights (a full, unsharded state dict with Hugging Face names);
        later samples and scores use them."""
        ...

    def sleep(self) -> None:
        """Free the sampler's accelerator memory for the update; the next ``load_weights`` wakes it."""
        ...

    def chat_prompt(self, messages: list[dict[str, str]], **template_kwargs: Any) -> list[int]:
        """Token ids of a chat (list of {'role', 'content'}) with the generation prompt added,
        through the tokenizer's own chat template (``template_kwargs`` reach the template)."""
        ...


@runtime_checkable
class TrainablePolicy(Policy, Protocol):
    """A policy whose own torch module the trainer can update in place (and SFT trains): the HF
    backend. Other backends sample from an engine and take the trained weights by ``load_weights``."""

    model: Any  # a transformers causal LM (torch.nn.Module), in eval mode


def request_seeds(sampling: SamplingConfig, n: int, seeds: Sequence[int] | None = None) -> list[int]:
    """The seed of each of ``n`` responses: ``seeds`` if given (a caller that must keep a
    response's draws when others drop out, such as the rollout loop), else ``sampling.seed + i``."""
    if seeds is None:
        return [sampling.seed + i for i in range(n)]
    if len(seeds) != n:
        raise ReproError(f"sample: {n} prompts but {len(seeds)} seeds")
    return [int(s) for s in seeds]
