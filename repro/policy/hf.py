"""Hugging Face transformers backend: batched, seeded sampling with a KV cache, and scoring.

The sampling loop is written out here (not ``model.generate``) because the trainer needs the
exact log-prob of every sampled token under the :mod:`repro.policy.base` convention, and those
must match :func:`repro.policy.logprobs.response_logprobs` on the same ids.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

import torch

from repro.config.schema import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy.base import Generation, request_seeds
from repro.policy.logprobs import left_pad, position_ids_for, response_logprobs, tempered, token_logprobs
from repro.policy.tiny import resolve_model_path
from repro.policy.transformers_logging import quiet_progress

# Stop tokens besides the tokenizer's EOS: ChatML's turn end and the pretraining document end.
EXTRA_STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ReproError("model.device=cuda but CUDA is not available (use model.device=cpu or auto)")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, dtype)


def single_token_id(tokenizer, text: str) -> int | None:
    """The id of ``text`` if the tokenizer encodes it as exactly one token, else None."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


def stop_token_ids(tokenizer, generation_config) -> list[int]:
    """EOS ids from the tokenizer and generation config, plus ChatML's end tokens if present."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    config_eos = getattr(generation_config, "eos_token_id", None)
    if config_eos is not None:
        ids.update(config_eos if isinstance(config_eos, list) else [config_eos])
    for token in EXTRA_STOP_TOKENS:
        token_id = single_token_id(tokenizer, token)
        if token_id is not None:
            ids.add(token_id)
    return sorted(ids)


def pad_token_id(tokenizer, stop_ids: Sequence[int]) -> int:
    """The id that pads batches: the tokenizer's pad token, else the first stop id."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]


def chat_prompt_ids(tokenizer, model_dir: Path, messages: list[dict[str, str]], **template_kwargs) -> list[int]:
    """Prompt ids through the tokenizer's own chat template with the generation prompt added."""
    if not tokenizer.chat_template:
        raise ReproError(f"the tokenizer in {model_dir} has no chat template")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **template_kwargs)
    return tokenizer.encode(text, add_special_tokens=False)


def response_text(tokenizer, response: Sequence[int], stop_ids: Sequence[int]) -> str:
    """Decoded response with special tokens kept, minus the stop token that ended it (the ids
    keep it: it is a sampled action the trainer scores)."""
    if response and response[-1] in stop_ids:
        response = response[:-1]
    return tokenizer.decode(list(response), skip_special_tokens=False)


def kv_cache_keyword(model: torch.nn.Module) -> str:
    """The name of the KV cache in the model's forward arguments and outputs: ``cache`` in newer
    transformers, ``past_key_values`` in older ones; pyproject admits both."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def choose_tokens(logits: torch.Tensor, sampling: SamplingConfig, uniforms: torch.Tensor) -> torch.Tensor:
    """Next token per row: argmax at T = 0, else a draw from softmax(logits / T) restricted to
    the top-k tokens and the top-p nucleus (which only restrict the draw; see base.py), row ``i``
    drawn by its own uniform ``uniforms[i]`` in [0, 1)."""
    if sampling.temperature == 0:
        return logits.argmax(-1)
    return _inverse_cdf_draw(_restricted(tempered(logits, sampling.temperature), sampling).softmax(-1), uniforms)


def sample_step(logits: torch.Tensor, sampling: SamplingConfig, uniforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`choose_tokens` and each chosen token's log-prob (the base.py convention). An
    unrestricted draw (T > 0, no top-k/top-p: the rollouts' setting) reads the log-prob off the
    softmax it drew from, so one pass over the vocabulary serves both, the same draws as
    ``choose_tokens`` and the log-probs of ``token_logprobs`` to float32 rounding (~1e-7)."""
    if sampling.temperature == 0 or sampling.top_k > 0 or sampling.top_p < 1.0:
        tokens = choose_tokens(logits, sampling, uniforms)
        return tokens, token_logprobs(logits, tokens, sampling.temperature)
    probs = tempered(logits, sampling.temperature).softmax(-1)
    tokens = _inverse_cdf_draw(probs, uniforms)
    return tokens, probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).log()


def _restricted(scaled: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """``scaled`` logits with the tokens outside the top-k and the top-p nucleus at -inf."""
    if sampling.top_k > 0:
        kth_largest = scaled.topk(min(sampling.top_k, scaled.shape[-1]), dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth_largest, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_logits, order = scaled.sort(dim=-1, descending=True)
        sorted_probs = sorted_logits.softmax(-1)
        # Drop a token once the mass strictly before it already reaches top_p (the first stays).
        drop_sorted = sorted_probs.cumsum(-1) - sorted_probs >= sampling.top_p
        scaled = scaled.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    return scaled


def _inverse_cdf_draw(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row from ``probs`` at its uniform: several times faster than
    torch.multinomial on a small model's step."""
    cdf = probs.cumsum(-1)
    u = uniforms.unsqueeze(-1) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=cdf.shape[-1] - 1)


def row_uniforms(seeds: Sequence[int], steps: int) -> torch.Tensor:
    """``[len(seeds), steps]`` uniforms, row ``i`` from a CPU generator seeded ``seeds[i]``: a
    response's draws depend on its own seed only, not on which other prompts share its batch
    (one failed episode leaves the others' draws as they were), and not on the device."""
    out = torch.empty(len(seeds), steps)
    for i, seed in enumerate(seeds):
        out[i] = torch.rand(steps, generator=torch.Generator().manual_seed(int(seed)))
    return out


class HFPolicy:
    """A causal LM from a local directory ('tiny' or a Qwen2.5/Qwen3/R1-distill checkpoint)."""

    def __init__(self, model: torch.nn.Module, tokenizer, model_dir: Path, batch_size: int = 16):
        self.model = model
        self.tokenizer = tokenizer
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.cache_keyword = kv_cache_keyword(model)
        self.stop_ids = stop_token_ids(tokenizer, getattr(model, "generation_config", None))
        if not self.stop_ids:
            raise ReproError(f"tokenizer in {model_dir} has no EOS token; cannot tell when a response ends")
        self.pad_id = pad_token_id(tokenizer, self.stop_ids)
        self.end_of_think_id = single_token_id(tokenizer, "</think>")

    @classmethod
    def from_config(cls, model_cfg: ModelConfig, **engine_kwargs) -> "HFPolicy":
        if engine_kwargs:  # a vLLM engine setting reached the wrong backend
            raise ReproError(f"the hf backend takes no engine settings, got {sorted(engine_kwargs)}")
        model_cfg.validate()
        torch.set_num_threads(model_cfg.num_threads)
        model_dir = resolve_model_path(model_cfg.path)
        device = resolve_device(model_cfg.device)
        from safetensors import SafetensorError
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            with quiet_progress():
                tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(
                    model_dir, local_files_only=True, dtype=resolve_dtype(model_cfg.dtype, device)
                )
        except (OSError, ValueError, KeyError, SafetensorError) as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ReproError(f"cannot load a causal LM from {model_dir}: {reason}") from e
        return cls(model.to(device).eval(), tokenizer, model_dir, model_cfg.batch_size)

    # -- Policy contract ------------------------------------------------------------------------

    def chat_prompt(self, messages: list[dict[str, str]], **template_kwargs) -> list[int]:
        """Prompt ids through the tokenizer's chat template with the generation prompt
        (``template_kwargs`` reach the template, e.g. Qwen3's ``enable_thinking=False``)."""
        return chat_prompt_ids(self.tokenizer, self.model_dir, messages, **template_kwargs)

    def sample(
        self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig, seeds: Sequence[int] | None = None,
        *, kv_cache: bool = True,
    ) -> list[Generation]:
        """One response per prompt, in chunks of ``batch_size``; response ``i`` draws from its own
        generator seeded ``seeds[i]`` (default ``sampling.seed + i``, as the vLLM backend seeds its
        requests), so a response is a function of its prompt and seed whatever shares its batch.
        ``kv_cache=False`` recomputes the whole sequence each step (a reference and a benchmark)."""
        sampling.validate()
        if any(len(p) == 0 for p in prompts):
            raise ReproError("cannot sample from an empty prompt")
        seeds = request_seeds(sampling, len(prompts), seeds)
        generations: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start:start + self.batch_size]
            uniforms = row_uniforms(seeds[start:start + self.batch_size], sampling.max_new_tokens)
            generations += self._sample_batch(chunk, sampling, uniforms, kv_cache)
        return generations

    @torch.inference_mode()
    def score(
        self,
        prompts: Sequence[Sequence[int]],
        responses: Sequence[Sequence[int]],
        temperature: float = 1.0,
    ) -> list[list[float]]:
        if len(prompts) != len(responses):
            raise ReproError(f"score: {len(prompts)} prompts but {len(responses)} responses")
        scores: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk_prompts = prompts[start:start + self.batch_size]
            chunk_responses = responses[start:start + self.batch_size]
            logprobs, _ = response_logprobs(self.model, chunk_prompts, chunk_responses, temperature, self.pad_id)
            scores += [logprobs[i, :len(r)].tolist() for i, r in enumerate(chunk_responses)]
        return scores

    def sleep(self) -> None:
        """Nothing to free: the sampler is a torch module in the trainer's own memory."""

    def load_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Take the trainer's updated weights (full, unsharded; cast to this model's dtype)."""
        self.model.load_state_dict(state_dict)

    # -- internals ------------------------------------------------------------------------------

    @torch.inference_mode()
    def _sample_batch(
        self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig,
        uniforms: torch.Tensor, kv_cache: bool,
    ) -> list[Generation]:
        batch = len(prompts)
        ids, attention = left_pad(prompts, self.pad_id)
        ids, attention, uniforms = ids.to(self.device), attention.to(self.device), uniforms.to(self.device)
        positions = position_ids_for(attention)
        stop_ids = set(self.stop_ids)
        # A stop string ending in the newest token lies within its last len(bytes) + 1 tokens.
        stop_window = max((len(s.encode()) for s in sampling.stop), default=0) + 1

        responses: list[list[int]] = [[] for _ in range(batch)]
        logprobs: list[list[float]] = [[] for _ in range(batch)]
        finish = ["length"] * batch
        active = list(range(batch))
        done = torch.zeros(batch, dtype=torch.bool, device=self.device)
        step_ids, step_positions, cache = ids, positions, None
        for t in range(sampling.max_new_tokens):
            if kv_cache:
                out = self.model(input_ids=step_ids, attention_mask=attention, position_ids=step_positions,
                                 use_cache=True, logits_to_keep=1, **{self.cache_keyword: cache})
                cache = getattr(out, self.cache_keyword)
            else:
                out = self.model(input_ids=ids, attention_mask=attention, position_ids=positions,
                                 use_cache=False, logits_to_keep=1)
            logits = out.logits[:, -1].float()
            tokens, token_lps = sample_step(logits, sampling, uniforms[:, t])
            tokens = tokens.masked_fill(done, self.pad_id)
            token_list, logprob_list = tokens.tolist(), token_lps.tolist()

            still_active = []
            for i in active:
                responses[i].append(token_list[i])
                logprobs[i].append(logprob_list[i])
                if token_list[i] in stop_ids or (sampling.stop and self._ends_with_stop(responses[i], sampling.stop, stop_window)):
                    finish[i] = "stop"
                    done[i] = True
                else:
                    still_active.append(i)
            active = still_active
            if not active:
                break
            step_ids = tokens.unsqueeze(-1)
            step_positions = positions[:, -1:] + 1
            ids = torch.cat([ids, step_ids], dim=-1)
            positions = torch.cat([positions, step_positions], dim=-1)
            attention = torch.cat([attention, attention.new_ones(batch, 1)], dim=-1)
        return [
            Generation(list(p), r, lp, response_text(self.tokenizer, r, self.stop_ids), f)
            for p, r, lp, f in zip(prompts, responses, logprobs, finish)
        ]

    def _ends_with_stop(self, response: list[int], stops: list[str], window: int) -> bool:
        tail = self.tokenizer.decode(response[-window:], skip_special_tokens=False)
        return any(s in tail for s in stops)

    def _added_tokens_summary(self, limit: int = 16) -> str:
        added = sorted((i, t.content) for i, t in self.tokenizer.added_tokens_decoder.items())
        shown = ", ".join(f"{content}={i}" for i, content in added[:limit])
        return shown + (f", ... ({len(added) - limit} more)" if len(added) > limit else "")

    def describe(self) -> dict:
        """What ``repro model info`` prints."""
        config = self.model.config
        tok = self.tokenizer
        return {
            "directory": str(self.model_dir),
            "architecture": ", ".join(getattr(config, "architectures", None) or [type(self.model).__name__]),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "layers / hidden / heads / kv heads": f"{config.num_hidden_layers} / {config.hidden_size} / "
                                                  f"{config.num_attention_heads} / {getattr(config, 'num_key_value_heads', '-')}",
            "max positions": getattr(config, "max_position_embeddings", "-"),
            "vocab": len(tok),
            "dtype / device": f"{self.model.dtype} / {self.device}",
            "added tokens": self._added_tokens_summary(),
            "eos / stop ids": f"{tok.eos_token!r} / {self.stop_ids}",
            "pad id": self.pad_id,
            "chat template": "yes" if tok.chat_template else "no",
            "end-of-think (</think>) id": self.end_of_think_id,
        }
