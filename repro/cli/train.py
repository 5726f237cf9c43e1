"""``repro train``: RL on an agent environment (GiGPO, GRPO, RLOO)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

HELP = """Train a policy with RL on an agent env; resumes from the run directory's last checkpoint.

Writes results/<run>/{config.yaml, metrics.jsonl (one line per iteration), checkpoints/, results.json}.
Paper settings live in benchmarks/{gigpo,sgrpo}/*.yaml, the CPU-sized ones in benchmarks/{gigpo,sgrpo}/cpu/.
Any config key can be overridden as KEY=VALUE, e.g. iterations=10 loss.kl_coef=0 advantage.mode=mean_norm.
"""


def train_command(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Config overrides KEY=VALUE (e.g. iterations=10).", show_default=False)] = None,
    algo: Annotated[Optional[str], typer.Option("--algo", help="Agent envs: gigpo | grpo | rloo | ppo; math envs: sgrpo | grpo | length_penalty (see `repro ls algos`).")] = None,
    env: Annotated[Optional[str], typer.Option("--env", help="alfworld | webshop; math (S-GRPO): gsm8k | math_train.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file (e.g. benchmarks/gigpo/cpu/*.yaml).")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run-name", help="Run directory name under results/ (default: the config's, else train-<algo>-<env>).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over: delete the run's checkpoints and metrics instead of resuming.")] = False,
    nproc: Annotated[int, typer.Option("--nproc", help="Processes on this machine: > 1 re-runs this command under `torchrun --standalone` (FSDP2).")] = 1,
) -> None:
    import json
    import os
    import sys

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        from repro.trainer.distributed import torchrun_argv

        os.execv(sys.executable, torchrun_argv(sys.executable, sys.argv[1:], nproc))

    from repro.console import make_console
    from repro.trainer.config import build_train_config
    from repro.trainer.loop import run_train
    from repro.trainer.view import summary_table

    extra = [f"run_name={run_name}"] if run_name else []
    cfg = build_train_config(algo, env, config, list(overrides or []) + extra)
    path = run_train(cfg, fresh=fresh)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return
    make_console().print(summary_table(json.loads((path / "results.json").read_text()), str(path)))
