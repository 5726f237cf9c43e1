"""``make reproduce-tables``: run every claimed paper-table row (``benchmarks/tables/**.yaml``) at
one scale, then regenerate ``results/tables/<table>-<scale>.md`` and the plots.

    python -m repro.results.reproduce [--scale cpu|paper] [--dry-run]

A row file names the paper table, row and model block, the seeds, and per scale the runs (an
``repro eval`` or ``repro train`` config plus overrides, and for ``cpu`` a measured per-seed time).
Runs whose results.json exists are skipped, so an interrupted reproduction resumes (training runs
also resume from their last checkpoint). Runs go to ``results/reproduce/<scale>/<table>/...``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from repro.errors import ReproError
from repro.paths import REPO_ROOT

ROWS_DIR = REPO_ROOT / "benchmarks" / "tables"
SCALES = ("cpu", "paper")


@dataclass(frozen=True)
class PlannedRun:
    table: str
    row: str
    model: str  # paper block
    command: str  # eval | train
    config: Optional[str]
    overrides: tuple[str, ...]
    seed: int
    estimate_s: Optional[float]
    name: str  # run directory, relative to the scale's results root

    def argv(self, results_dir: Path) -> list[str]:
        args = [sys.executable, "-m", "repro", self.command]
        if self.config:
            args += ["--config", str(REPO_ROOT / self.config)]
        return args + [*self.overrides, f"seed={self.seed}", f"run_name={self.name}", f"results_dir={results_dir}"]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text.lower())


def _run_env(run: dict[str, Any]) -> str:
    for o in run.get("overrides", []):
        if o.startswith("env.name="):
            return o.partition("=")[2]
    return Path(run["config"]).stem.split("_")[0] if run.get("config") else "run"


def plan(scale: str, rows_dir: Path = ROWS_DIR) -> tuple[list[PlannedRun], list[str]]:
    """Every run of ``scale`` (in row-file order), and the rows that have no such scale."""
    if scale not in SCALES:
        raise ReproError(f"unknown scale '{scale}'; choose from {', '.join(SCALES)}")
    runs, without = [], []
    for path in sorted(rows_dir.rglob("*.yaml")):
        row = yaml.safe_load(path.read_text())
        spec = (row.get("scales") or {}).get(scale)
        if not spec:
            without.append(str(path.relative_to(rows_dir)))
            continue
        for run in spec["runs"]:
            for seed in row["seeds"]:
                name = f"{row['table']}/{_slug(row['model'])}/{row['row']}-{_run_env(run)}-seed{seed}"
                runs.append(PlannedRun(row["table"], row["row"], row["model"], run["command"], run.get("config"),
                                       tuple(run.get("overrides", [])), seed, run.get("estimate_s"), name))
    return runs, without


def is_done(run: PlannedRun, results_dir: Path) -> bool:
    return (results_dir / run.name / "results.json").is_file()


def print_plan(console: Any, runs: list[PlannedRun], results_dir: Path) -> float:
    from rich.table import Table

    table = Table(title=f"reproduce-tables: {len(runs)} runs under {results_dir}", title_justify="left")
    for col in ("run", "command", "status", "estimate"):
        table.add_column(col)
    todo_s = 0.0
    for r in runs:
        done = is_done(r, results_dir)
        if not done:
            todo_s += r.estimate_s or 0.0
        est = "?" if r.estimate_s is None else f"{r.estimate_s:.0f} s"
        table.add_row(r.name, r.command, "done (skipped)" if done else "to run", "" if done else est)
    console.print(table)
    unknown = sum(1 for r in runs if r.estimate_s is None and not is_done(r, results_dir))
    console.print(f"estimated time: {todo_s / 60:.1f} min" + (f" (+ {unknown} runs without an estimate)" if unknown else ""))
    return todo_s


def execute(console: Any, runs: list[PlannedRun], results_dir: Path) -> list[str]:
    """Run what is not done, one at a time; returns the names that failed (the rest go on)."""
    from repro.results.compare import write_claim

    failed = []
    todo = [r for r in runs if not is_done(r, results_dir)]
    for i, r in enumerate(todo, 1):
        console.print(f"[bold]({i}/{len(todo)})[/bold] {r.name}")
        started = time.perf_counter()
        log = results_dir / f"{r.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            code = subprocess.run(r.argv(results_dir), stdout=f, stderr=subprocess.STDOUT, cwd=REPO_ROOT).returncode
        if code != 0 or not is_done(r, results_dir):
            failed.append(r.name)
            console.print(f"  [red]failed[/red] (exit {code}); log: {log}")
            continue
        console.print(f"  done in {time.perf_counter() - started:.0f} s (estimate {r.estimate_s or '?'} s)")
    for r in runs:  # claims also for runs finished by an earlier, interrupted invocation
        if is_done(r, results_dir):
            write_claim(results_dir / r.name, r.table, r.row, r.model)
    return failed


def regenerate(console: Any, runs: list[PlannedRun], results_dir: Path, tables_dir: Path, scale: str,
               command: str) -> list[Path]:
    """results/tables/<table>-<scale>.md and the plots, from every finished run of the plan."""
    from repro.io import atomic_write_text
    from repro.results.compare import build_comparison, load_run
    from repro.results.plots import write_plots
    from repro.results.tables import render_markdown

    written = []
    for table in dict.fromkeys(r.table for r in runs):
        done = [load_run(results_dir / r.name) for r in runs if r.table == table and is_done(r, results_dir)]
        if not done:
            continue
        comparison = build_comparison(done, table, command)
        target = tables_dir / f"{table}-{scale}.md"
        atomic_write_text(target, render_markdown(comparison))
        written.append(target)
        written += write_plots(done, tables_dir, prefix=f"{table}-{scale}-")
    for path in written:
        console.print(f"written: {path}")
    return written


def main(argv: Optional[list[str]] = None) -> int:
    from repro.console import make_console

    parser = argparse.ArgumentParser(prog="python -m repro.results.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="cpu", help="cpu (this machine) | paper (GPU machine, real checkpoints)")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "results" / "reproduce")
    parser.add_argument("--tables-dir", type=Path, default=REPO_ROOT / "results" / "tables")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the time estimate only")
    args = parser.parse_args(argv)
    console = make_console()
    try:
        runs, without = plan(args.scale)
        results_dir = args.results_dir / args.scale
        print_plan(console, runs, results_dir)
        if without:
            console.print(f"rows without a '{args.scale}' scale (not run): {', '.join(without)}")
        if args.dry_run:
            return 0
        failed = execute(console, runs, results_dir)
        command = f"make reproduce-tables SCALE={args.scale}"
        regenerate(console, runs, results_dir, args.tables_dir, args.scale, command)
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if failed:
        console.print(f"[red]{len(failed)} run(s) failed[/red]: {', '.join(failed)} (rerun to retry; logs beside them)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
