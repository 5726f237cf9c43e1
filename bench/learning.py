"""CPU-scale learning study: format-only SFT, then GiGPO vs GRPO vs RLOO on the 3x3 maze, same budget, seeds.

    .venv/bin/python bench/learning.py [--seeds 3] [--algos gigpo grpo rloo] [--iterations N]
                                       [--window 5] [--results-dir results/learning]

1. ``repro sft`` with benchmarks/learning/maze_sft.yaml -> <results-dir>/sft/model: demonstrations
   with uniformly random admissible actions, so the model learns the reply format but not the task
   (one warm start shared by every run, so all algorithms start from the same policy);
2. ``repro eval`` of that start, of the random policy and of the expert on the validation mazes
   (64 unseen test mazes; the model at the validation temperature 0.4) -> <results-dir>/eval-*;
3. ``repro train`` with benchmarks/learning/maze_<algo>.yaml for each (algo, seed) ->
   <results-dir>/runs/maze-<algo>-s<seed> (a run whose results.json exists with the same config is
   not repeated);
4. prints the training success rate per iteration of every run, then per algorithm mean ± std over
   seeds of the first and last ``--window`` iterations' training success rate, their difference and
   the last validation success rate, and writes the curve plots (mean ± std band over seeds) beside
   the runs. ``repro compare <results-dir>/runs/*`` reads the same directories.

The measured numbers are in the README ("A CPU-scale study"); read the table this prints, not a note.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from repro.io import read_jsonl

CONFIGS = Path(__file__).resolve().parent.parent / "benchmarks" / "learning"


def unchanged(run_path: Path, cfg: object) -> bool:
    """A finished run directory whose config equals ``cfg`` (so it need not run again)."""
    from repro.trainer.loop import config_differences

    config = run_path / "config.yaml"
    return (run_path / "results.json").is_file() and config.is_file() and not config_differences(config.read_text(), cfg)


def warm_start(results_dir: Path) -> Path:
    from repro.trainer.sft import build_sft_config, run_sft

    cfg = build_sft_config(None, CONFIGS / "maze_sft.yaml", [f"results_dir={results_dir}", "run_name=sft"])
    if not unchanged(results_dir / "sft", cfg):
        run_sft(cfg, fresh=True)
    return results_dir / "sft" / "model"


def baseline(results_dir: Path, policy: str, model: Path) -> float:
    """Validation success rate of ``policy`` (model = the warm start) on the runs' validation mazes."""
    from repro.eval.agent import run_agent_eval
    from repro.eval.config import build_eval_config
    from repro.trainer.config import build_train_config

    train = build_train_config(None, None, CONFIGS / "maze_gigpo.yaml", [])
    env = {k: v for k, v in vars(train.env).items() if k != "name"}
    overrides = [f"env.{k}={v}" for k, v in env.items()] + [
        f"policy={policy}", f"model.path={model}", "model.num_threads=1", "rollout.num_workers=1",
        f"limit={train.validation.episodes}", f"sampling.temperature={train.validation.sampling.temperature}",
        f"sampling.max_new_tokens={train.validation.sampling.max_new_tokens}",
        f"results_dir={results_dir}", f"run_name=eval-{policy if policy != 'model' else 'sft'}"]
    cfg = build_eval_config("maze", None, overrides)
    path = results_dir / cfg.run_name
    if not unchanged(path, cfg):
        run_agent_eval(cfg)
    return json.loads((path / "results.json").read_text())["metrics"]["success_rate"]


def train(algo: str, seed: int, model: Path, runs_dir: Path, iterations: int | None) -> Path:
    from repro.trainer.config import build_train_config
    from repro.trainer.loop import run_train

    name = f"maze-{algo}-s{seed}"
    extra = [f"iterations={iterations}", f"eval_every={iterations}"] if iterations else []
    cfg = build_train_config(algo, None, CONFIGS / f"maze_{algo}.yaml",
                             [f"seed={seed}", f"run_name={name}", f"model.path={model}",
                              f"results_dir={runs_dir}", *extra])
    if unchanged(runs_dir / name, cfg) and len(read_jsonl(runs_dir / name / "metrics.jsonl")) == cfg.iterations:
        return runs_dir / name
    return run_train(cfg, fresh=True)


def mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def window_rise(path: Path, window: int) -> tuple[float, float]:
    """Mean training success rate of the first and of the last ``window`` iterations of a run."""
    rates = [line["success_rate"] for line in read_jsonl(path / "metrics.jsonl")]
    return statistics.fmean(rates[:window]), statistics.fmean(rates[-window:])


def summarize(runs: dict[str, list[Path]], window: int) -> None:
    print("\ntraining success rate per iteration (64 episodes each)")
    for paths in runs.values():
        for path in paths:
            lines = read_jsonl(path / "metrics.jsonl")
            print(f"{path.name:>14}: " + " ".join(f"{line['success_rate']:.2f}" for line in lines))
    print(f"\n{'algo':>6} | {'first ' + str(window) + ' it.':>13} | {'last ' + str(window) + ' it.':>13} | "
          f"{'rise':>13} | {'val success':>13} | {'s/iteration':>11}")
    for algo, paths in runs.items():
        first, last, val, per_it = [], [], [], []
        for path in paths:
            f, l = window_rise(path, window)
            first.append(f)
            last.append(l)
            lines = read_jsonl(path / "metrics.jsonl")
            vals = [line["val_success_rate"] for line in lines if "val_success_rate" in line]
            if vals:
                val.append(vals[-1])
            per_it.append(statistics.fmean(line["timing"]["rollout_s"] + line["timing"]["update_s"] for line in lines))
        rise = [l - f for f, l in zip(first, last)]
        print(f"{algo:>6} | {mean_std(first):>13} | {mean_std(last):>13} | {mean_std(rise):>13} | "
              f"{mean_std(val) if val else '-':>13} | {statistics.fmean(per_it):>11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--algos", nargs="+", default=["gigpo", "grpo", "rloo"])
    parser.add_argument("--iterations", type=int, default=None, help="override the configs' iterations")
    parser.add_argument("--window", type=int, default=5, help="iterations averaged at the start and the end")
    parser.add_argument("--results-dir", type=Path, default=Path("results/learning"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    started = time.perf_counter()
    model = warm_start(args.results_dir)
    sft = json.loads((args.results_dir / "sft" / "results.json").read_text())
    print(f"sft ({sft['demo_policy']} actions): {sft['demo_rows']} rows, {sft['steps']} steps, "
          f"loss {sft['first_loss']:.3f} -> {sft['final_loss']:.3f}, {sft['elapsed_s']:.0f} s")
    rates = {policy: baseline(args.results_dir, policy, model) for policy in ("random", "model", "expert")}
    print(f"validation success before RL: random policy {rates['random']:.3f}, "
          f"format-only SFT {rates['model']:.3f}, expert {rates['expert']:.3f}")
    runs: dict[str, list[Path]] = {}
    for algo in args.algos:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            runs.setdefault(algo, []).append(train(algo, seed, model, args.results_dir / "runs", args.iterations))
            print(f"{algo} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    summarize(runs, args.window)

    from repro.results.compare import expand_run_dirs, load_run
    from repro.results.plots import write_plots

    plots = write_plots([load_run(p) for p in expand_run_dirs([args.results_dir / "runs"])],
                        args.results_dir, prefix="maze_")
    print(f"\nplots: {', '.join(map(str, plots))}")
    print(f"wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
