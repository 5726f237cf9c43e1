"""vLLM's CPU build against the HF backend on the tiny model, side by side in one process.

1. Generation tokens/s at each batch size: the same GSM8K test prompts through the chat template,
   T = 1, seed 0, the backends interleaved, best of ``--repeats`` each (the machine is shared:
   noise only slows runs).
2. S-GRPO's serial-group rollout (docs/sgrpo.md §2.4: a full response, then m exits that re-read its
   prefix) with and without reading vLLM's prefix cache, on one engine (two engines in one process
   share its thread binding and metrics), interleaved, best of ``--repeats``, each run from an
   empty cache: wall time and vLLM's own prefix-cache counters.

Needs vLLM (`make setup-vllm`); prints one line and exits 0 where it is missing, so `make bench`
still runs the rest.

    .venv-vllm/bin/python bench/vllm_cpu.py [--batches 1,8,32] [--max-new-tokens 128] [--repeats 3]
        [--queries 8] [--full-tokens 256] [--answer-tokens 32] [--exits 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; the fastest is reported")
    parser.add_argument("--queries", type=int, default=8, help="serial groups (GSM8K train questions)")
    parser.add_argument("--full-tokens", type=int, default=256, help="cap of each full response O⁰")
    parser.add_argument("--answer-tokens", type=int, default=32, help="cap of each exit's answer")
    parser.add_argument("--exits", type=int, default=8)
    args = parser.parse_args()
    if importlib.util.find_spec("vllm") is None:
        print("bench/vllm_cpu.py: skipped, vLLM is not installed here (make setup-vllm; .venv-vllm/bin/python bench/vllm_cpu.py)")
        return

    from repro.config import ModelConfig, SamplingConfig
    from repro.envs.math import GSM8K
    from repro.io import read_jsonl
    from repro.paths import data_file
    from repro.policy import load_policy
    from repro.rollout.serial import SerialConfig, serial_rollout

    batches = [int(b) for b in args.batches.split(",")]
    hf = load_policy(ModelConfig(backend="hf", batch_size=max(batches)))
    engine = load_policy(ModelConfig(backend="vllm"), enable_prefix_caching=True)
    questions = [row["question"] for row in read_jsonl(data_file("gsm8k/test.jsonl"))[: max(batches)]]
    prompts = [hf.chat_prompt([{"role": "user", "content": q}]) for q in questions]
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    for policy in (hf, engine):  # warm-up: first-call allocations
        policy.sample(prompts[:2], SamplingConfig(max_new_tokens=8))

    print(f"# tiny model, fp32, 1 torch thread; prompt_tokens_mean={sum(map(len, prompts)) / len(prompts):.0f} "
          f"max_new_tokens={args.max_new_tokens}")
    for batch in batches:
        rates = {"hf": 0.0, "vllm": 0.0}
        for _ in range(args.repeats):  # interleaved, best of N (the machine is shared: noise only slows runs)
            for name, policy in (("hf", hf), ("vllm", engine)):
                engine.llm.reset_prefix_cache()  # nothing cached from the previous repeat
                start = time.perf_counter()
                generations = policy.sample(prompts[:batch], sampling)
                rate = sum(len(g.response_ids) for g in generations) / (time.perf_counter() - start)
                rates[name] = max(rates[name], rate)
        print(f"generate batch={batch} hf_tokens_per_s={rates['hf']:.0f} vllm_tokens_per_s={rates['vllm']:.0f} "
              f"vllm/hf={rates['vllm'] / rates['hf']:.2f}x", flush=True)

    task = GSM8K(GSM8K.Config())
    problems = task.problems("train")[: args.queries]
    serial_prompts = [hf.chat_prompt(task.messages(p)) for p in problems]
    serial_sampling = SamplingConfig(temperature=1.0, max_new_tokens=args.full_tokens, seed=0)
    cfg = SerialConfig(exits=args.exits, answer_max_tokens=args.answer_tokens)
    seconds = {"off": float("inf"), "on": float("inf")}
    for _ in range(args.repeats):  # interleaved, best of N; each run starts from an empty prefix cache
        for name in ("off", "on"):
            engine.llm.reset_prefix_cache()
            engine.read_prefix_cache = name == "on"
            before = engine.prefix_cache_counters()
            start = time.perf_counter()
            groups = serial_rollout(engine, problems, serial_prompts, serial_sampling, cfg, seed=0)
            seconds[name] = min(seconds[name], time.perf_counter() - start)
            after = engine.prefix_cache_counters()
            if name == "on":
                queried, hits = after["queries"] - before["queries"], after["hits"] - before["hits"]
    for name in ("off", "on"):
        print(f"serial groups prefix_caching={name} seconds={seconds[name]:.2f}", flush=True)
    tokens = sum(len(m.response_ids) for g in groups for m in g.members)
    print(f"serial groups: {len(groups)} queries, {sum(len(g.members) for g in groups)} members, {tokens} delivered "
          f"tokens; with caching vLLM found {hits:.0f} of {queried:.0f} prompt tokens cached ({hits / max(queried, 1):.0%})")
    print(f"serial-group speed-up from prefix caching (wall time off/on): {seconds['off'] / seconds['on']:.2f}x")


if __name__ == "__main__":
    main()
