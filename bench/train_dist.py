"""Iteration time and peak memory of `repro train` on a `cpu` config: 1 process vs N torchrun
processes (gloo, FSDP2), the same global batch (tasks_per_iteration) either way.

    .venv/bin/python bench/train_dist.py [--config alfworld_grpo] [--nproc 2] [--iterations 3] [KEY=VALUE ...]

Each run is a real `repro train` subprocess; the numbers come from its metrics.jsonl (under
torchrun: the slowest rank's times and largest peak RSS; rollout includes generation on the
rank's unsharded sampler copy, update includes the FSDP all-gathers and the weight sync).
Iteration 1 carries the env workers' start-up and is reported apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["rollout_s", "generate_s", "update_s", "peak_rss_mb", "peak_rss_mb_all_ranks"]


def run(nproc: int, config: str, iterations: int, results: Path, extra: list[str]) -> tuple[list[dict], float]:
    from repro.io import read_jsonl

    args = ["-m", "repro", "train", "-c", str(ROOT / "benchmarks" / "gigpo" / "cpu" / f"{config}.yaml"),
            f"results_dir={results}", f"run_name=np{nproc}", f"iterations={iterations}", "eval_every=0", "save_every=0",
            *extra, "--fresh"]
    launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                     "--nproc-per-node", str(nproc)]
    started = time.perf_counter()
    out = subprocess.run([*launcher, *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"{nproc} process(es) failed:\n{out.stderr[-3000:]}")
    return read_jsonl(results / f"np{nproc}" / "metrics.jsonl"), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="alfworld_grpo")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config overrides for both runs, e.g. tasks_per_iteration=4")
    args = parser.parse_args()
    print(f"{args.config}, {args.iterations} iterations, overrides {args.overrides or '-'}; "
          f"seconds are means over iterations 2..N (iter1_s: the first)")
    header = ["processes", "iter1_s", "iter_s", *KEYS[:-1], "rss_all_mb", "rows", "wall_s"]
    print(" ".join(f"{h:>12}" for h in header))
    with tempfile.TemporaryDirectory() as tmp:
        for nproc in (1, args.nproc):
            lines, wall = run(nproc, args.config, args.iterations, Path(tmp), args.overrides)
            steady = lines[1:] or lines
            total = lambda line: line["timing"]["rollout_s"] + line["timing"]["advantage_s"] + line["timing"]["update_s"]  # noqa: E731
            cells = [str(nproc), f"{total(lines[0]):.2f}", f"{statistics.mean(total(x) for x in steady):.2f}",
                     *[f"{statistics.mean(x['timing'].get(k, x['timing']['peak_rss_mb']) for x in steady):.2f}" for k in KEYS],
                     f"{statistics.mean(x['rows'] for x in steady):.1f}", f"{wall:.1f}"]
            print(" ".join(f"{c:>12}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
