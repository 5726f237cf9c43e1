"""``repro ls`` and ``repro validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repro.errors import ReproError
from repro.registry import did_you_mean

LS_HELP = "List what exists: envs, algos, benchmarks (YAML specs) or models (tiny + cached)."
VALIDATE_HELP = "Check a YAML config (and KEY=VALUE overrides) without running it; prints the resolved config."

WHAT = ["envs", "algos", "benchmarks", "models"]
BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from repro.console import make_console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*r)
    make_console().print(table)


def ls_command(what: Annotated[str, typer.Argument(help=f"One of: {', '.join(WHAT)}.")]) -> None:
    if what not in WHAT:
        raise ReproError(f"unknown listing '{what}'{did_you_mean(what, WHAT)}; choose from {', '.join(WHAT)}")
    if what == "envs":
        from repro.envs import ENVS

        _table("envs", ["name", "kind", "description"], [[e.name, e.meta.get("kind", ""), e.description] for e in ENVS.entries()])
    elif what == "algos":
        from repro.algos import ALGOS

        _table("algos", ["name", "description"], [[e.name, e.description] for e in ALGOS.entries()])
    elif what == "benchmarks":
        rows = [[str(p.relative_to(BENCHMARKS_DIR)), (p.read_text().splitlines() or [""])[0].lstrip("# ")]
                for p in sorted(BENCHMARKS_DIR.rglob("*.yaml"))]
        _table("benchmarks", ["file", "description"], rows)
    else:
        from repro.policy.tiny import list_models

        _table("models", ["name", "path", "status"], [list(r) for r in list_models()])


def validate_command(
    config: Annotated[Path, typer.Argument(help="YAML config file, e.g. benchmarks/....yaml.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Overrides KEY=VALUE.", show_default=False)] = None,
) -> None:
    from repro.config import config_to_yaml, peek_value

    command = peek_value("command", config, [], default="eval")
    if command == "eval":
        from repro.eval.config import build_eval_config

        cfg = build_eval_config(None, config, [o for o in (overrides or [])])
    elif command == "train":
        from repro.trainer.config import build_train_config

        cfg = build_train_config(None, None, config, list(overrides or []))
    elif command == "sft":
        from repro.trainer.sft import build_sft_config

        cfg = build_sft_config(None, config, list(overrides or []))
    else:
        raise ReproError(f"config {config} is for '{command}', which this version cannot validate yet")
    typer.echo(config_to_yaml(cfg))
    typer.echo(f"ok: {config} is a valid '{command}' config", err=True)
