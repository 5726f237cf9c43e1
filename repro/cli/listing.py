"""``repro ls`` and ``repro validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repro.algos import ALGOS
from repro.config import config_to_yaml, peek_value
from repro.console import make_console
from repro.envs import ENVS
from repro.errors import ReproError
from repro.registry import did_you_mean
from repro.results.schema import RESULTS_FILE, read_results

LS_HELP = ("List what exists: envs, algos, benchmarks (YAML specs), models (tiny + cached) or runs "
           "(run directories under results/ or DIR: kind, env, status, headline metric).")
VALIDATE_HELP = "Check a YAML config (and KEY=VALUE overrides) without running it; prints the resolved config."

WHAT = ["envs", "algos", "benchmarks", "models", "runs"]
HEADLINES = ("success_rate", "accuracy", "score", "final_loss")  # the first a run has is shown
BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*r)
    make_console().print(table)


def run_rows(root: Path) -> list[list[str]]:
    """One row per run directory (a config.yaml) under ``root``: name, kind, env, status, headline."""
    import json

    import yaml

    rows = []
    for config_path in sorted(root.rglob("config.yaml")):
        run = config_path.parent
        config = yaml.safe_load(config_path.read_text()) or {}
        kind, env = str(config.get("command", "?")), str((config.get("env") or {}).get("name", "?"))
        headline = ""
        if (run / RESULTS_FILE).is_file():
            try:
                results = read_results(run)
            except ReproError:
                version = json.loads((run / RESULTS_FILE).read_text()).get("schema_version")
                status = f"finished (results schema {version}: not readable by this repro)"
            else:
                status = "finished"
                name = next((m for m in HEADLINES if m in results.metrics), None)
                if name:
                    metric = results.metrics[name]
                    headline = f"{name} {metric.value:.4g}" + (f" ± {metric.stderr:.2g}" if metric.stderr else "")
        elif (run / "metrics.jsonl").is_file():
            done = sum(1 for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip())
            status = f"unfinished: {done}/{config.get('iterations', '?')} iterations" if kind == "train" else "unfinished"
        else:
            status = "unfinished"
        rows.append([str(run.relative_to(root)), kind, env, status, headline])
    return rows


def ls_command(
    what: Annotated[str, typer.Argument(help=f"One of: {', '.join(WHAT)}.")],
    where: Annotated[Optional[Path], typer.Argument(help="runs: the directory to list (default: results).", show_default=False)] = None,
) -> None:
    if what not in WHAT:
        raise ReproError(f"unknown listing '{what}'{did_you_mean(what, WHAT)}; choose from {', '.join(WHAT)}")
    if where is not None and what != "runs":
        raise ReproError(f"`repro ls {what}` takes no directory (only `repro ls runs DIR` does)")
    if what == "runs":
        root = where or Path("results")
        if not root.is_dir():
            raise ReproError(f"{root} is not a directory (runs are listed from results/ or the DIR given)")
        rows = run_rows(root)
        if not rows:
            typer.echo(f"no runs under {root}")
            return
        _table(f"runs under {root}", ["run", "kind", "env", "status", "headline (± stderr)"], rows)
    elif what == "envs":
        _table("envs", ["name", "kind", "description"], [[e.name, e.meta.get("kind", ""), e.description] for e in ENVS.entries()])
    elif what == "algos":
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
    import yaml

    if config.is_file() and "scales" in (yaml.safe_load(config.read_text()) or {}):  # a table row (benchmarks/tables/)
        from repro.reproduce import validate_row_file

        if overrides:
            raise ReproError(f"{config} is a table row file; KEY=VALUE overrides apply to configs only")
        planned = validate_row_file(config)
        typer.echo(f"ok: {config} is a valid table row file (" + ", ".join(f"{s}: {n} runs" for s, n in planned.items()) + ")",
                   err=True)
        return
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
