"""``repro eval``: evaluate a policy on a math benchmark or an agent environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repro.cli.plan import eval_plan
from repro.envs import ENVS
from repro.errors import ReproError
from repro.progress import log_line, print_plan

HELP = """Evaluate a policy on an env; writes results/<run>/{config.yaml,results.json,samples.jsonl}.

Math envs (gsm8k, math500, aime2024, amc2023, gpqa_diamond) report accuracy (pass@1 averaged over
--samples) and mean generated tokens, sampling as the papers do by default (T 0.6, top-p 0.95).
Agent envs (alfworld, webshop, maze) report success rates. --model <run>/model (weights a `repro
train` or `repro sft` run exported) takes the env settings, and a training run's validation sampling,
from that run's config.yaml and says so; KEY=VALUE overrides still win.
Any config key can be overridden as KEY=VALUE, e.g. sampling.temperature=0.6 model.batch_size=8.
"""


def eval_command(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Config overrides KEY=VALUE (e.g. sampling.temperature=0.6).", show_default=False)] = None,
    env: Annotated[Optional[str], typer.Option("--env", help="Env name (see `repro ls envs`).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="'tiny' (built locally), a local HF model directory, or <run>/model of a training run (its env settings come along).")] = None,
    policy: Annotated[Optional[str], typer.Option("--policy", help="model | expert | random | oracle | replay (agent envs).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Data split (default: the env's evaluation split).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Evaluate only N problems/games/goals: the first N (ALFWorld: N drawn across the six task types, one fixed draw).")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", help="Samples per problem (math): accuracy is pass@1 averaged over them.")] = None,
    episodes_per_game: Annotated[Optional[int], typer.Option("--episodes-per-game", help="Episodes per game/goal (agent envs).")] = None,
    episodes: Annotated[Optional[Path], typer.Option("--episodes", help="--policy replay: a JSONL of recorded episodes, e.g. a run's samples.jsonl (WebShop).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file (e.g. benchmarks/*.yaml).")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run-name", help="Run directory name under results/ (default: eval-<env>-<time>); an existing run is refused unless --fresh.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Replace the run directory --run-name names if it already holds a run.")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for sampling and task order.")] = None,
    suite: Annotated[Optional[str], typer.Option("--suite", help="Run a paper's benchmark suite instead of one env ('sgrpo': five math benchmarks, Table 1 layout).")] = None,
    exit_curve: Annotated[bool, typer.Option("--exit-curve", help="Math envs: accuracy vs tokens of forced exits at fixed fractions of each full thought (JSON + PNG).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (tasks, sampling, model, where results go) and exit.")] = False,
) -> None:
    from repro.eval.config import build_eval_config, inheritance_note
    from repro.results.run_dir import claim_new_run, default_run_name, run_lock

    flags = {
        "model.path": model, "policy": policy, "split": split, "limit": limit,
        "samples": samples if samples is not None else episodes_per_game,
        "episodes_file": str(episodes) if episodes else None, "run_name": run_name, "seed": seed,
    }
    extra = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if suite:
        from repro.eval.suite import run_suite

        if env or exit_curve:
            raise ReproError("--suite runs its own benchmarks; drop --env/--exit-curve")
        run_suite(suite, config, list(overrides or []) + extra, fresh=fresh, dry_run=dry_run)
        return
    cfg = build_eval_config(env, config, list(overrides or []) + extra)
    kind = ENVS.entry(cfg.env.name).meta["kind"]
    if kind == "math" and cfg.prompting.style != "plain":
        raise ReproError(f"prompting.style={cfg.prompting.style} is for agent envs (alfworld, webshop)")
    if kind == "math" and exit_curve:
        from repro.eval.exit_curve import run_exit_curve as run
    elif kind == "math":
        from repro.eval.math import run_math_eval as run
    elif exit_curve:
        raise ReproError("--exit-curve needs a math env (reasoning with </think>)")
    else:
        from repro.eval.agent import run_agent_eval as run
    cfg.run_name = cfg.run_name or default_run_name("exitcurve" if exit_curve else "eval", cfg.env.name)
    run_path = Path(cfg.results_dir) / cfg.run_name
    note = inheritance_note(cfg)
    print_plan(eval_plan(cfg, run_path, kind, exit_curve) + ([note] if note else []))
    if dry_run:
        return
    with run_lock(run_path, log_line):
        claim_new_run(run_path, fresh)
        run(cfg)
