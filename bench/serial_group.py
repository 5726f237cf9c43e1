"""Serial-group rollout throughput vs. the same number of independent samples (HF backend).

A serial group (docs/sgrpo.md §2.4) delivers m + 1 training responses per query, but only the full
response and the m short answers are *decoded*: each exit's thinking prefix is reused from the
full response and only re-read (one prefill pass). The baseline decodes the same number of
responses, (m + 1) per query, independently from the prompt, each as long as the serial group's
mean member, so both deliver about the same number of response tokens.

    .venv/bin/python bench/serial_group.py [--model tiny] [--queries 8] [--full-tokens 256]
        [--answer-tokens 32] [--exits 8] [--batch-size 16] [--threads 1]

Prints wall time, delivered response tokens, decoded tokens and delivered tokens/s for both.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--full-tokens", type=int, default=256, help="cap of the full response O⁰")
    parser.add_argument("--answer-tokens", type=int, default=32, help="cap of each exit's answer")
    parser.add_argument("--exits", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from repro.config import ModelConfig, SamplingConfig
    from repro.envs.math import GSM8K
    from repro.policy import load_policy
    from repro.rollout.serial import SerialConfig, serial_rollout

    policy = load_policy(ModelConfig(path=args.model, device=args.device, batch_size=args.batch_size,
                                     num_threads=args.threads))
    task = GSM8K(GSM8K.Config())
    problems = task.problems("train")[: args.queries]
    prompts = [policy.chat_prompt(task.messages(p)) for p in problems]
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=args.full_tokens, seed=0)
    cfg = SerialConfig(exits=args.exits, answer_max_tokens=args.answer_tokens)
    policy.sample(prompts[:1], SamplingConfig(max_new_tokens=4))  # warm-up

    calls: list[tuple[str, float]] = []  # (method, seconds) in call order: phase 1, phase 2, inducer scoring
    for name in ("sample", "score"):
        def timed(*a, _f=getattr(policy, name), _name=name, **k):
            t = time.perf_counter()
            out = _f(*a, **k)
            calls.append((_name, time.perf_counter() - t))
            return out
        setattr(policy, name, timed)
    start = time.perf_counter()
    groups = serial_rollout(policy, problems, prompts, sampling, cfg, seed=0)
    serial_s = time.perf_counter() - start
    (_, phase1_s), (_, phase2_s), (_, score_s) = calls
    members = [m for g in groups for m in g.members]
    delivered = sum(len(m.response_ids) for m in members)
    decoded = sum(len(g.full.response_ids) for g in groups) + sum(
        len(m.response_ids) - m.answer_start for g in groups for m in g.exits)

    per_sample = round(delivered / len(members))
    start = time.perf_counter()
    independent = policy.sample([g.prompt_ids for g in groups for _ in g.members],
                                SamplingConfig(temperature=1.0, max_new_tokens=per_sample, seed=1))
    independent_s = time.perf_counter() - start
    independent_tokens = sum(len(g.response_ids) for g in independent)

    print(f"model={args.model} device={args.device} threads={args.threads} queries={args.queries} "
          f"exits={args.exits} full cap={args.full_tokens} answer cap={args.answer_tokens} batch={args.batch_size}")
    print(f"{'':<24}{'responses':>10}{'delivered tok':>15}{'decoded tok':>13}{'wall s':>9}{'delivered tok/s':>17}")
    print(f"{'serial groups':<24}{len(members):>10}{delivered:>15}{decoded:>13}{serial_s:>9.2f}{delivered / serial_s:>17.1f}")
    print(f"{'independent samples':<24}{len(independent):>10}{independent_tokens:>15}{independent_tokens:>13}"
          f"{independent_s:>9.2f}{independent_tokens / independent_s:>17.1f}")
    print(f"serial breakdown: full responses {phase1_s:.2f} s, exit answers {phase2_s:.2f} s "
          f"(re-prefilling prompt + prefix: the HF backend shares no KV cache between exits), "
          f"scoring the forced inducers {score_s:.2f} s")
    print(f"speed-up of serial groups (delivered tokens/s): {(delivered / serial_s) / (independent_tokens / independent_s):.2f}x")


if __name__ == "__main__":
    main()
