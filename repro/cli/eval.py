"""``repro eval``: evaluate a policy on a math benchmark or an agent environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

HELP = """Evaluate a policy on an env; writes results/<run>/{config.yaml,results.json,samples.jsonl}.

Math envs (gsm8k, math500, aime2024, amc2023, gpqa_diamond) report accuracy (pass@1 averaged over
--samples) and mean generated tokens. Agent envs (alfworld, webshop) report success rates.
Any config key can be overridden as KEY=VALUE, e.g. sampling.temperature=0.6 model.batch_size=8.
"""


def eval_command(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Config overrides KEY=VALUE (e.g. sampling.temperature=0.6).", show_default=False)] = None,
    env: Annotated[Optional[str], typer.Option("--env", help="Env name (see `repro ls envs`).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="'tiny' (built locally) or a local HF model directory.")] = None,
    policy: Annotated[Optional[str], typer.Option("--policy", help="model | expert | random | oracle | replay (agent envs).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Data split (default: the env's evaluation split).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Evaluate only N problems/games/goals: the first N (ALFWorld: N drawn across the six task types, one fixed draw).")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", help="Samples per problem (math): accuracy is pass@1 averaged over them.")] = None,
    episodes_per_game: Annotated[Optional[int], typer.Option("--episodes-per-game", help="Episodes per game/goal (agent envs).")] = None,
    episodes: Annotated[Optional[Path], typer.Option("--episodes", help="JSONL of recorded episodes for --policy replay.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file (e.g. benchmarks/*.yaml).")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run-name", help="Run directory name under results/.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for sampling and task order.")] = None,
    suite: Annotated[Optional[str], typer.Option("--suite", help="Run a paper's benchmark suite instead of one env ('sgrpo': five math benchmarks, Table 1 layout).")] = None,
    exit_curve: Annotated[bool, typer.Option("--exit-curve", help="Math envs: accuracy vs tokens of forced exits at fixed fractions of each full thought (JSON + PNG).")] = False,
) -> None:
    from repro.envs import ENVS
    from repro.eval.config import build_eval_config

    flags = {
        "model.path": model, "policy": policy, "split": split, "limit": limit,
        "samples": samples if samples is not None else episodes_per_game,
        "episodes_file": str(episodes) if episodes else None, "run_name": run_name, "seed": seed,
    }
    extra = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if suite:
        from repro.errors import ReproError
        from repro.eval.suite import run_suite

        if env or exit_curve:
            raise ReproError("--suite runs its own benchmarks; drop --env/--exit-curve")
        run_suite(suite, config, list(overrides or []) + extra)
        return
    cfg = build_eval_config(env, config, list(overrides or []) + extra)
    kind = ENVS.entry(cfg.env.name).meta["kind"]
    if kind == "math" and exit_curve:
        from repro.eval.exit_curve import run_exit_curve as run
    elif kind == "math":
        from repro.eval.math import run_math_eval as run
    elif exit_curve:
        from repro.errors import ReproError

        raise ReproError("--exit-curve needs a math env (reasoning with </think>)")
    else:
        from repro.eval.agent import run_agent_eval as run
    run(cfg)
