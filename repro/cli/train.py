"""``repro train``: RL on an agent environment (GiGPO, GRPO, RLOO)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repro.cli.plan import train_plan
from repro.progress import print_plan
from repro.results.schema import read_results

HELP = """Train a policy with RL on an agent env; resumes from the run directory's last checkpoint.

Prints its plan first (iterations, tasks x group size, step cap, tokens, model, device, where results
go), then one line per iteration with an overall ETA (a live view on a terminal), and a summary that
leads with validation. Writes results/<run>/{config.yaml, metrics.jsonl (one line per iteration),
samples/iter_N.jsonl (every iteration's episodes), validation/, checkpoints/, model/, results.json}.
Paper settings live in benchmarks/{gigpo,sgrpo}/*.yaml, the CPU-sized ones in benchmarks/{gigpo,sgrpo}/cpu/;
without -c the defaults are the paper's ALFWorld protocol (hours even on a GPU).
Any config key can be overridden as KEY=VALUE, e.g. iterations=10 loss.kl_coef=0 advantage.mode=mean_norm;
dump_rows=true writes each iteration's step rows to rows/iter_N.jsonl for `repro advantages --rows`.
"""


def train_command(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Config overrides KEY=VALUE (e.g. iterations=10).", show_default=False)] = None,
    algo: Annotated[Optional[str], typer.Option("--algo", help="Agent envs: gigpo | grpo | rloo | ppo; math envs: sgrpo | grpo | length_penalty (see `repro ls algos`).")] = None,
    env: Annotated[Optional[str], typer.Option("--env", help="alfworld | webshop; math (S-GRPO): gsm8k | math_train.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file (e.g. benchmarks/gigpo/cpu/*.yaml).")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run-name", help="Run directory name under results/ (default: the config's, else train-<algo>-<env>).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over: delete the run's checkpoints and metrics instead of resuming.")] = False,
    nproc: Annotated[int, typer.Option("--nproc", help="Processes on this machine: > 1 re-runs this command under `torchrun --standalone` (FSDP2).")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (what would run, on which model and device, where results go) and exit.")] = False,
) -> None:
    import os
    import sys

    if nproc > 1 and "WORLD_SIZE" not in os.environ and not dry_run:
        from repro.trainer.distributed import torchrun_argv

        os.execv(sys.executable, torchrun_argv(sys.executable, sys.argv[1:], nproc))

    from repro.trainer.config import build_train_config
    from repro.trainer.loop import run_name as default_name

    extra = [f"run_name={run_name}"] if run_name else []
    cfg = build_train_config(algo, env, config, list(overrides or []) + extra)
    main = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 reports
    if main:
        world = int(os.environ.get("WORLD_SIZE", nproc))
        print_plan(train_plan(cfg, Path(cfg.results_dir) / default_name(cfg), fresh, world))
    if dry_run:
        return

    from repro.trainer.run import run_train
    from repro.trainer.view import summary_lines

    path = run_train(cfg, fresh=fresh)
    if main:
        print("\n".join(summary_lines(read_results(path), str(path))), flush=True)
