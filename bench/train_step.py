"""Seconds per training iteration of the `cpu` benchmark configs, split into rollout (generation
and environment), advantage and update, plus generation tokens/s and peak RSS.

    .venv/bin/python bench/train_step.py [--iterations 4] [--configs alfworld_gigpo_std webshop_gigpo_std]

Iteration 1 includes the env workers' start-up (imports, first game load); the table reports it
separately and averages iterations 2..N.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

CPU_CONFIGS = Path(__file__).resolve().parents[1] / "benchmarks" / "gigpo" / "cpu"
COLUMNS = ["rollout_s", "generate_s", "env_s", "advantage_s", "update_s", "tokens_per_s", "peak_rss_mb"]


def measure(config: str, iterations: int, results: Path) -> list[dict]:
    from repro.io import read_jsonl
    from repro.trainer.config import build_train_config
    from repro.trainer.run import run_train

    cfg = build_train_config(None, None, CPU_CONFIGS / f"{config}.yaml",
                             [f"iterations={iterations}", "eval_every=0", f"results_dir={results}"])
    run = run_train(cfg, fresh=True)
    return read_jsonl(run / "metrics.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--configs", nargs="+", default=["alfworld_gigpo_std", "alfworld_grpo", "webshop_gigpo_std"])
    args = parser.parse_args()
    header = ["config", "iter1_s", "iter_s", *COLUMNS, "rows"]
    print(f"seconds per iteration, mean of iterations 2..{args.iterations} (iter1_s: the first, with env start-up)")
    print(" ".join(f"{h:>20}" if i == 0 else f"{h:>12}" for i, h in enumerate(header)))
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            lines = measure(config, args.iterations, Path(tmp))
            steady = lines[1:] or lines
            mean = {k: statistics.mean(line["timing"][k] for line in steady) for k in COLUMNS}
            total = lambda line: sum(line["timing"][k] for k in ("rollout_s", "advantage_s", "update_s"))  # noqa: E731
            cells = [f"{total(lines[0]):.2f}", f"{statistics.mean(total(x) for x in steady):.2f}",
                     *[f"{mean[k]:.4f}" if k == "advantage_s" else f"{mean[k]:.2f}" for k in COLUMNS],
                     f"{statistics.mean(x['rows'] for x in steady):.1f}"]
            print(f"{config:>20} " + " ".join(f"{c:>12}" for c in cells), flush=True)

if __name__ == "__main__":
    main()
