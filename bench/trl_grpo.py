"""Seconds per GRPO step, repro vs TRL's ``GRPOTrainer``, on the same work: GSM8K train prompts
through the tiny model's chat template, P prompts x G samples of at most L tokens at T = 1, one
optimizer step over all P x G rows per step (one forward/backward), KL 0.01 to a reference model,
entropy bonus 0.001, sequence-mean loss, lr 1e-4, a math-verify correctness reward, one torch
thread each, no activation checkpointing (TRL's GRPO default turns it on; ``--trl-activation-checkpointing``
leaves it on).

TRL is not a dependency of repro (and never runs in CI): it lives in a separate environment, e.g.

    python3 -m venv /tmp/trl && /tmp/trl/bin/pip install torch==2.13.0 trl==1.16.0 transformers==5.24.0 math-verify==0.9.0
    .venv/bin/python bench/trl_grpo.py --trl-python /tmp/trl/bin/python [--shapes 2x4x24,4x8x128] [--steps 5] [--pairs 3]

Each pair runs one ``repro train --algo grpo --env gsm8k`` process and one TRL process (the order
alternating from pair to pair), ``--steps`` steps each; the first step of each (first-call
allocations) is left out. repro's step is its iteration's rollout + update (generation,
verification, PPO epoch); TRL's is ``training_step`` (generation, reward, loss, backward) plus the
optimizer step, timed by a callback. Prints per shape

    trl_grpo shape=PxGxL repro_step_s=<median> trl_step_s=<median> ratio=<repro / trl, median of pairs>

Without ``--trl-python`` it says so and exits 0 (``make bench`` runs every script).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LR, KL, ENTROPY = 1e-4, 0.01, 0.001
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def repro_steps(shape: tuple[int, int, int], steps: int, tmp: Path) -> list[float]:
    from repro.io import read_jsonl

    prompts, group, tokens = shape
    rows = prompts * group
    args = ["train", "--algo", "grpo", "--env", "gsm8k", "-c", str(ROOT / "benchmarks/sgrpo/cpu/gsm8k_grpo.yaml"),
            f"results_dir={tmp}", "run_name=repro", f"tasks_per_iteration={prompts}", f"group_size={group}",
            f"sampling.max_new_tokens={tokens}", f"mini_batch_rows={rows}", f"micro_batch_rows={rows}",
            f"iterations={steps}", "eval_every=0", "save_every=0", "export_model=false", f"optim.lr={LR}",
            f"loss.kl_coef={KL}", f"loss.entropy_coef={ENTROPY}", "loss.aggregation=seq-mean-token-mean",
            "model.num_threads=1", "--fresh"]
    out = subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=ROOT, env=ONE_THREAD)
    if out.returncode != 0:
        sys.exit(f"repro train failed:\n{out.stderr[-3000:]}")
    return [line["timing"]["rollout_s"] + line["timing"]["update_s"] for line in read_jsonl(tmp / "repro" / "metrics.jsonl")]


def trl_steps(python: str, shape: tuple[int, int, int], steps: int, tmp: Path, checkpointing: bool) -> list[float]:
    from repro.envs.math import GSM8K
    from repro.policy.tiny import ensure_tiny

    prompts, group, tokens = shape
    task = GSM8K(GSM8K.Config())
    data = [{"prompt": task.messages(p), "gold": p.gold} for p in task.problems("train")[:256]]
    spec = {"model": str(ensure_tiny()), "data": data, "prompts": prompts, "group": group, "tokens": tokens,
            "steps": steps, "output": str(tmp / "trl"), "checkpointing": checkpointing}
    (tmp / "spec.json").write_text(json.dumps(spec))
    out = subprocess.run([python, __file__, "--run-trl", str(tmp / "spec.json")], capture_output=True, text=True,
                         env={**ONE_THREAD, "HF_HUB_OFFLINE": "1"})
    if out.returncode != 0:
        sys.exit(f"TRL failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_trl(spec_path: str) -> None:
    """Inside the TRL environment (no repro there): train ``steps`` GRPO steps, print their seconds."""
    import torch
    from datasets import Dataset
    from math_verify import LatexExtractionConfig, parse, verify
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    spec = json.loads(Path(spec_path).read_text())
    boxed = [LatexExtractionConfig(try_extract_without_anchor=False, boxed_match_priority=0)]

    def correct(completions, gold, **kwargs):
        return [float(bool(verify(parse(f"${g}$"), parse(c[0]["content"], boxed)))) for c, g in zip(completions, gold)]

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.seconds: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.started)

    rows = spec["prompts"] * spec["group"]
    config = GRPOConfig(
        output_dir=spec["output"], per_device_train_batch_size=rows, num_generations=spec["group"],
        max_completion_length=spec["tokens"], max_steps=spec["steps"], learning_rate=LR, beta=KL,
        entropy_coef=ENTROPY, epsilon=0.2, num_iterations=1, loss_type="grpo", temperature=1.0, top_p=1.0,
        gradient_accumulation_steps=1, logging_steps=1, report_to="none", save_strategy="no", use_cpu=True,
        bf16=False, disable_tqdm=True, dataloader_num_workers=0, seed=0,
        gradient_checkpointing=spec["checkpointing"],  # TRL's default (True) recomputes activations; repro does not
    )
    times = StepTimes()
    trainer = GRPOTrainer(model=spec["model"], reward_funcs=[correct], args=config,
                          train_dataset=Dataset.from_list(spec["data"]), callbacks=[times])
    trainer.train()
    print(json.dumps(times.seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trl-python", help="python of an environment with trl installed")
    parser.add_argument("--shapes", default="2x4x24,4x8x128", help="prompts x samples x max tokens, comma-separated")
    parser.add_argument("--steps", type=int, default=5, help="steps per process (the first is left out)")
    parser.add_argument("--pairs", type=int, default=3, help="repro/TRL process pairs per shape")
    parser.add_argument("--trl-activation-checkpointing", action="store_true",
                        help="leave TRL's default activation (gradient) checkpointing on: not the same work")
    parser.add_argument("--run-trl", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_trl:
        run_trl(args.run_trl)
        return
    if not args.trl_python:
        print("trl_grpo skipped: no --trl-python given (TRL lives in a separate environment; see the docstring)")
        return
    for text in args.shapes.split(","):
        shape = tuple(int(x) for x in text.split("x"))
        ratios, ours, theirs = [], [], []
        for pair in range(args.pairs):
            with tempfile.TemporaryDirectory() as tmp:
                runs = {"repro": lambda: repro_steps(shape, args.steps, Path(tmp)),
                        "trl": lambda: trl_steps(args.trl_python, shape, args.steps, Path(tmp),
                                                 args.trl_activation_checkpointing)}
                order = ["repro", "trl"] if pair % 2 == 0 else ["trl", "repro"]
                got = {name: statistics.median(runs[name]()[1:]) for name in order}
            ours.append(got["repro"])
            theirs.append(got["trl"])
            ratios.append(got["repro"] / got["trl"])
            print(f"# shape={text} pair={pair} repro_step_s={got['repro']:.3f} trl_step_s={got['trl']:.3f}", flush=True)
        print(f"trl_grpo shape={text} repro_step_s={statistics.median(ours):.3f} trl_step_s={statistics.median(theirs):.3f} "
              f"ratio={statistics.median(ratios):.2f}", flush=True)


if __name__ == "__main__":
    main()
