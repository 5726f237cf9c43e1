"""``repro sft``: supervised warm start on expert demonstrations (see repro.trainer.sft)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repro.cli.plan import sft_plan
from repro.progress import log_line, print_plan
from repro.results.schema import read_results

HELP = """Warm-start a policy on expert demonstrations rendered with exactly the training prompts.

The env's scripted expert (ALFWorld walkthroughs, the WebShop oracle, the maze's shortest path) plays
training tasks; each step becomes one (prompt, <think>..</think><action>..</action>) row; the loss is
cross-entropy on the reply tokens. Writes results/<run>/{config.yaml, demos.json, metrics.jsonl, model/,
results.json}; then train from it with `repro train ... model.path=results/<run>/model`.
demo_policy=random successful_only=false demonstrates the reply format only (random admissible
actions), so RL starts near the random baseline: how a CPU user sees learning at all.
A math task that generates its own responses (arith) is demonstrated by them, one row per problem.
Any config key can be overridden as KEY=VALUE, e.g. episodes=32 steps=20 lr=1e-3.
"""


def sft_command(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Config overrides KEY=VALUE (e.g. steps=20).", show_default=False)] = None,
    env: Annotated[Optional[str], typer.Option("--env", help="alfworld | webshop | maze | arith.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file (e.g. benchmarks/learning/maze_sft.yaml).")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run-name", help="Run directory name under results/ (default: sft-<env>).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Collect the demonstrations again instead of reusing demos.json.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (demonstrations, training, model, where results go) and exit.")] = False,
) -> None:
    from repro.results.run_dir import run_lock
    from repro.trainer.sft import build_sft_config, run_sft

    extra = [f"run_name={run_name}"] if run_name else []
    cfg = build_sft_config(env, config, list(overrides or []) + extra)
    run_path = Path(cfg.results_dir) / (cfg.run_name or f"sft-{cfg.env.name}")
    print_plan(sft_plan(cfg, run_path))
    if dry_run:
        return
    with run_lock(run_path, log_line):
        path = run_sft(cfg, fresh=fresh)
    results = read_results(path)
    model_dir = results.details["exported_model"]["directory"]
    print(f"sft on {results.counts['demo_rows']} steps of {results.counts['demo_episodes']} "
          f"'{results.details['demo_policy']}' episodes, {results.counts['steps']} optimiser steps: loss "
          f"{results.value('first_loss'):.3f} -> {results.value('final_loss'):.3f}\n"
          f"model: {model_dir}  (use model.path={model_dir})", flush=True)
