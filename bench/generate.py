"""Generation throughput of the HF backend on the tiny model, with and without the KV cache.

Prompts are real GSM8K test questions through the chat template (so rows have different lengths
and left padding is exercised); sampling at T = 1 with a fixed seed. Prints one line per setting:
    generate batch=<b> kv_cache=<on|off> new_tokens=<generated> seconds=<s> tokens_per_s=<rate>
and then the per-step token choice with its log-prob, the sampler's one softmax (``sample_step``)
against the two passes it replaced (``choose_tokens`` + ``token_logprobs``), on random logits of
the tiny model's vocabulary and of Qwen's, interleaved:
    sample_step vocab=<v> batch=<b> two_pass_ms=<median> one_pass_ms=<median> speedup=<x> same_draws=<true|false>

    .venv/bin/python bench/generate.py [--batches 1,8,32] [--max-new-tokens 128] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from repro.config import ModelConfig, SamplingConfig
from repro.io import read_jsonl
from repro.paths import data_file
from repro.policy import load_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; the fastest is reported")
    parser.add_argument("--model", default="tiny", help="'tiny' or a local HF model directory")
    args = parser.parse_args()

    batches = [int(b) for b in args.batches.split(",")]
    policy = load_policy(ModelConfig(path=args.model, batch_size=max(batches), num_threads=args.threads))
    questions = [row["question"] for row in read_jsonl(data_file("gsm8k/test.jsonl"))[: max(batches)]]
    prompts = [policy.chat_prompt([{"role": "user", "content": q}]) for q in questions]
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    policy.sample(prompts[:2], SamplingConfig(max_new_tokens=8))  # warm-up: first-call allocations

    print(f"# model={policy.model_dir} device={policy.device} threads={args.threads} "
          f"prompt_tokens_mean={sum(map(len, prompts)) / len(prompts):.0f}")
    for batch in batches:
        for kv_cache in (True, False):
            seconds = float("inf")
            for _ in range(args.repeats):  # best of N: the machine is shared, noise only slows runs
                start = time.perf_counter()
                generations = policy.sample(prompts[:batch], sampling, kv_cache=kv_cache)
                seconds = min(seconds, time.perf_counter() - start)
            new_tokens = sum(len(g.response_ids) for g in generations)
            print(f"generate batch={batch} kv_cache={'on' if kv_cache else 'off'} new_tokens={new_tokens} "
                  f"seconds={seconds:.2f} tokens_per_s={new_tokens / seconds:.0f}", flush=True)

    step_choice(batches, args.repeats)


def step_choice(batches: list[int], repeats: int, calls: int = 50) -> None:
    import torch

    from repro.policy.hf import choose_tokens, sample_step
    from repro.policy.logprobs import token_logprobs

    sampling = SamplingConfig(temperature=1.0)
    for vocab in (4096, 151936):  # the tiny model's vocabulary and Qwen2.5/Qwen3's
        for batch in batches:
            logits = torch.randn(batch, vocab, generator=torch.Generator().manual_seed(0)) * 3
            seconds: dict[str, list[float]] = {"two": [], "one": []}
            drawn: dict[str, torch.Tensor] = {}
            for _ in range(max(repeats, 5)):
                for name in ("two", "one"):
                    generator = torch.Generator().manual_seed(1)
                    uniforms = [torch.rand(batch, generator=generator) for _ in range(calls)]
                    start = time.perf_counter()
                    for u in uniforms:
                        if name == "two":
                            tokens = choose_tokens(logits, sampling, u)
                            token_logprobs(logits, tokens, sampling.temperature)
                        else:
                            tokens, _ = sample_step(logits, sampling, u)
                    seconds[name].append((time.perf_counter() - start) / calls * 1e3)
                    drawn[name] = tokens
            two, one = statistics.median(seconds["two"]), statistics.median(seconds["one"])
            print(f"sample_step vocab={vocab} batch={batch} two_pass_ms={two:.3f} one_pass_ms={one:.3f} "
                  f"speedup={two / one:.2f} same_draws={str(torch.equal(drawn['two'], drawn['one'])).lower()}", flush=True)


if __name__ == "__main__":
    main()
