"""``make reproduce-tables``: run every claimed table row (``benchmarks/tables/**.yaml``) at one
scale, then regenerate ``results/tables/<table>-<scale>.md`` and the plots.

    python -m repro.reproduce [--scale cpu|paper] [--only GLOB] [--jobs N] [--dry-run]

A row file names its table (a paper table, or ``tables:`` for a row that two paper tables share,
or a table of our own such as the CPU learning study), the row (with a ``label`` where no paper
names it), the paper's model block, the seeds, and per scale the runs: a ``repro train``, ``repro
eval``, ``repro eval --suite sgrpo``, ``repro eval --exit-curve`` (``exit_curve``) or ``repro sft``
config plus overrides, and a measured per-seed time; ``seeds:`` on a run restricts it to some of the
row's seeds (one exit curve of a trained model, not five). A run may start from another run's final weights (``model_from``): a shared warm start of
``benchmarks/tables/_shared.yaml`` (one run, before every row) or an earlier run of the same row
and seed (its ``id``), e.g. the S-GRPO suite evaluating the model a training run produced.
``benchmarks/tables/_notes.yaml`` says, per scale and table, what the table's numbers are; it heads
the regenerated table.

Runs whose results exist are skipped, so an interrupted reproduction resumes (training runs also
resume from their last checkpoint). Runs go to ``results/reproduce/<scale>/<table>/...``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from repro.errors import ReproError
from repro.paths import REPO_ROOT
from repro.results.studies import STUDIES_FILE

ROWS_DIR = REPO_ROOT / "benchmarks" / "tables"
SHARED_FILE = "_shared.yaml"  # warm starts the rows name in model_from (not a row)
NOTES_FILE = "_notes.yaml"  # what each table's numbers are, per scale (not a row)
NOT_ROWS = (SHARED_FILE, NOTES_FILE, STUDIES_FILE)
SHARED_DIR = "shared"
SCALES = ("cpu", "paper")
# evals are redone whole (--fresh replaces what an interrupted one left); training resumes from its checkpoint
COMMANDS = {"train": ["train"], "eval": ["eval", "--fresh"], "suite": ["eval", "--suite", "sgrpo", "--fresh"],
            "exit_curve": ["eval", "--exit-curve", "--fresh"], "sft": ["sft"]}
RUN_LABELS = {"suite": "suite", "exit_curve": "exitcurve"}  # commands whose runs a row's config would name alike
DONE_FILE = {"suite": "suite.json"}  # the file a finished run leaves (default results.json)
RECORD_SUFFIX = ".runs.json"  # beside each table: the runs behind its cells, so a partial run can merge into it


@dataclass(frozen=True)
class PlannedRun:
    tables: tuple[str, ...]  # () for a shared warm start
    row: str
    model: str  # paper block
    command: str  # train | eval | suite | sft
    config: Optional[str]
    overrides: tuple[str, ...]
    seed: Optional[int]  # None: the config's own seed (shared runs)
    estimate_s: Optional[float]
    name: str  # run directory, relative to the scale's results root
    model_from: Optional[str] = None  # run directory whose <run>/model this run starts from
    label: Optional[str] = None  # how tables name a row no paper has (the row file's label)

    def all_overrides(self, results_dir: Path) -> list[str]:
        """The row's overrides plus what the plan sets: start model, seed, run directory."""
        args = list(self.overrides)
        if self.model_from:
            args.append(f"model.path={results_dir / self.model_from / 'model'}")
        if self.seed is not None:
            args.append(f"seed={self.seed}")
        return args + [f"run_name={self.name}", f"results_dir={results_dir}"]

    def argv(self, results_dir: Path) -> list[str]:
        config = ["--config", str(REPO_ROOT / self.config)] if self.config else []
        return [sys.executable, "-m", "repro", *COMMANDS[self.command], *config, *self.all_overrides(results_dir)]

    def check_config(self, results_dir: Path) -> None:
        """Build the run's config as its command will (no model, no data), so a bad key in the last
        row fails before the first run starts."""
        config = REPO_ROOT / self.config if self.config else None
        overrides = self.all_overrides(results_dir)
        if self.command == "train":
            from repro.trainer.config import build_train_config

            build_train_config(None, None, config, overrides)
        elif self.command in ("eval", "exit_curve"):
            from repro.eval.config import build_eval_config

            build_eval_config(None, config, overrides)
        elif self.command == "suite":
            from repro.eval.suite import suite_configs

            suite_configs("sgrpo", config, overrides, results_dir / self.name)
        else:
            from repro.trainer.sft import build_sft_config

            build_sft_config(None, config, overrides)

    def result_dirs(self, results_dir: Path) -> list[Path]:
        """The run directories compare reads: a suite's one sub-run per benchmark, else the run."""
        path = results_dir / self.name
        if self.command == "suite":
            return sorted(p.parent for p in path.glob("*/results.json"))
        return [path]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text.lower())


def _run_label(run: dict[str, Any]) -> str:
    """The part of a run's directory name that tells the runs of one row apart."""
    if run["command"] in RUN_LABELS:
        return RUN_LABELS[run["command"]]
    for o in run.get("overrides", []):
        if o.startswith("env.name="):
            return o.partition("=")[2]
    return Path(run["config"]).stem.split("_")[0] if run.get("config") else "run"


def _check_run(spec: dict[str, Any], where: str) -> None:
    if spec.get("command") not in COMMANDS:
        raise ReproError(f"{where}: command must be one of {', '.join(COMMANDS)}, got {spec.get('command')!r}")


def _shared_runs(scale: str, rows_dir: Path) -> dict[str, PlannedRun]:
    path = rows_dir / SHARED_FILE
    shared = (yaml.safe_load(path.read_text()) or {}).get(scale) or {} if path.is_file() else {}
    out = {}
    for run_id, spec in shared.items():
        _check_run(spec, f"{path.name}: {run_id}")
        out[run_id] = PlannedRun((), run_id, "", spec["command"], spec.get("config"), tuple(spec.get("overrides", [])),
                                 None, spec.get("estimate_s"), f"{SHARED_DIR}/{run_id}")
    return out


def plan(scale: str, rows_dir: Path = ROWS_DIR, only: Optional[str] = None) -> tuple[list[PlannedRun], list[str]]:
    """Every run of ``scale`` (the shared warm starts they need first, then rows in file order),
    and the rows that have no such scale; ``only`` keeps the row files matching a glob (or any of
    several, comma-separated)."""
    if scale not in SCALES:
        raise ReproError(f"unknown scale '{scale}'; choose from {', '.join(SCALES)}")
    shared = _shared_runs(scale, rows_dir)
    runs, without, used = [], [], set()
    paths = sorted(p for p in rows_dir.rglob("*.yaml") if p.name not in NOT_ROWS)
    if only:
        relative = {p: str(p.relative_to(rows_dir)) for p in paths}
        globs = [g.strip() for g in only.split(",") if g.strip()]
        for glob in globs:
            if not fnmatch.filter(relative.values(), glob):
                raise ReproError(f"--only '{glob}' matches no row file under {rows_dir} (e.g. 'learning-maze/*')")
        paths = [p for p in paths if any(fnmatch.fnmatch(relative[p], g) for g in globs)]
    for path in paths:
        where = str(path.relative_to(rows_dir))
        row = yaml.safe_load(path.read_text())
        spec = (row.get("scales") or {}).get(scale)
        if not spec:
            without.append(where)
            continue
        tables = tuple(row.get("tables") or [row["table"]])
        for seed in row["seeds"]:
            by_id: dict[str, str] = {}
            for run in spec["runs"]:
                _check_run(run, where)
                if "seeds" in run and seed not in run["seeds"]:
                    continue
                name = f"{tables[0]}/{_slug(row['model'])}/{row['row']}-{_run_label(run)}-seed{seed}"
                source = run.get("model_from")
                if source is None:
                    model_from = None
                elif source in by_id:
                    model_from = by_id[source]
                elif source in shared:
                    model_from = shared[source].name
                    used.add(source)
                else:
                    raise ReproError(f"{where}: model_from '{source}' is neither an earlier run id of the row nor "
                                     f"a shared run of {SHARED_FILE} ({', '.join(shared) or 'none'})")
                if run.get("id"):
                    by_id[run["id"]] = name
                runs.append(PlannedRun(tables, row["row"], row["model"], run["command"], run.get("config"),
                                       tuple(run.get("overrides", [])), seed, run.get("estimate_s"), name, model_from,
                                       row.get("label")))
    return [shared[s] for s in shared if s in used] + runs, without


def check_configs(runs: list[PlannedRun], results_dir: Path) -> None:
    for run in runs:
        try:
            run.check_config(results_dir)
        except ReproError as e:
            raise ReproError(f"{run.name}: {e}") from None


def validate_row_file(path: Path) -> dict[str, int]:
    """Check every run of one row file at every scale it has, as ``--dry-run`` does (its warm starts
    from the ``_shared.yaml`` beside it or above it); returns scale -> runs planned."""
    import tempfile

    path = path.resolve()
    rows_dir = next((d for d in (ROWS_DIR, *path.parents) if path.is_relative_to(d) and (d / SHARED_FILE).is_file()),
                    path.parent)
    scales = (yaml.safe_load(path.read_text()) or {}).get("scales") or {}
    unknown = sorted(set(scales) - set(SCALES))
    if unknown:
        raise ReproError(f"{path.name}: unknown scale '{unknown[0]}'; choose from {', '.join(SCALES)}")
    planned = {}
    with tempfile.TemporaryDirectory() as results_dir:
        for scale in scales:
            runs = plan(scale, rows_dir, only=str(path.relative_to(rows_dir)))[0]
            check_configs(runs, Path(results_dir))
            planned[scale] = len(runs)
    return planned


def is_done(run: PlannedRun, results_dir: Path) -> bool:
    """The run finished, with results this repro reads (an older schema's are redone)."""
    from repro.results.schema import RESULTS_FILE, read_results

    if not (results_dir / run.name / DONE_FILE.get(run.command, RESULTS_FILE)).is_file():
        return False
    for path in run.result_dirs(results_dir):
        try:
            read_results(path)
        except ReproError:
            return False
    return True


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


def _run_one(r: PlannedRun, results_dir: Path) -> tuple[int, float]:
    """One run as its own process, its output in ``<run>.log``; (exit code, seconds)."""
    started = time.perf_counter()
    log = results_dir / f"{r.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        code = subprocess.run(r.argv(results_dir), stdout=f, stderr=subprocess.STDOUT, cwd=REPO_ROOT).returncode
    return code, time.perf_counter() - started


def execute(console: Any, runs: list[PlannedRun], results_dir: Path, jobs: int = 1) -> list[str]:
    """Run what is not done, in plan order, up to ``jobs`` processes at once; returns the names that
    failed (a run whose model_from failed is not attempted; the rest go on).

    A run waits for the run whose model it starts from. Runs are independent processes with their own
    seeds, so ``jobs`` changes the wall time only, never a number (each cpu run uses one torch
    thread: ``model.num_threads: 1``, so jobs = the core count keeps every core busy)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from repro.results.compare import write_claim

    if jobs < 1:
        raise ReproError(f"--jobs must be at least 1, got {jobs}")
    failed: list[str] = []
    todo = [r for r in runs if not is_done(r, results_dir)]
    started_all = time.perf_counter()
    finished = 0
    remaining_s = sum(r.estimate_s or 0.0 for r in todo)
    progress = threading.Lock()

    def attempt(i: int, r: PlannedRun, source: Optional[Future]) -> None:
        nonlocal finished, remaining_s
        if source is not None:
            source.result()  # FIFO order: the source started before this run took a worker
        if r.model_from in failed:
            failed.append(r.name)
            console.print(f"[bold]({i}/{len(todo)})[/bold] {r.name}  [red]not run[/red]: {r.model_from} failed")
            return
        console.print(f"[bold]({i}/{len(todo)})[/bold] {r.name}  [dim]{time.perf_counter() - started_all:.0f} s in[/dim]")
        code, took = _run_one(r, results_dir)
        with progress:
            finished += 1
            remaining_s -= r.estimate_s or 0.0
        if code != 0 or not is_done(r, results_dir):
            failed.append(r.name)
            console.print(f"  [red]failed[/red] {r.name} (exit {code}); log: {results_dir / r.name}.log")
            return
        console.print(f"  done {r.name} in {took:.0f} s (estimate {r.estimate_s or '?'} s); {finished}/{len(todo)} "
                      f"finished, about {remaining_s / 60 / jobs:.0f} min left")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: dict[str, Future] = {}
        for i, r in enumerate(todo, 1):
            futures[r.name] = pool.submit(attempt, i, r, futures.get(r.model_from or ""))
    for future in futures.values():
        future.result()  # a bug in attempt itself surfaces here, not silently
    for r in runs:  # claims also for runs finished by an earlier, interrupted invocation
        if r.tables and is_done(r, results_dir):
            for path in r.result_dirs(results_dir):
                write_claim(path, r.tables[0], r.row, r.model, r.label)
    return failed


def table_notes(scale: str, rows_dir: Path = ROWS_DIR) -> dict[str, str]:
    """Table -> the paragraph that says what its numbers at ``scale`` are (``_notes.yaml``)."""
    path = rows_dir / NOTES_FILE
    return (yaml.safe_load(path.read_text()) or {}).get(scale) or {} if path.is_file() else {}


def _record_path(tables_dir: Path, table: str, scale: str) -> Path:
    return tables_dir / f"{table}-{scale}{RECORD_SUFFIX}"


def read_record(path: Path, results_dir: Path) -> dict[str, Any]:
    """The runs behind a written table (run name -> compare.Run), as the last regeneration saw them."""
    import dataclasses
    import json

    from repro.results.compare import Run

    if not path.is_file():
        return {}
    body = json.loads(path.read_text())
    names = {f.name for f in dataclasses.fields(Run)}
    return {name: Run(**{k: v for k, v in fields.items() if k in names} | {"path": results_dir / name})
            for name, fields in body["runs"].items()}


def write_record(path: Path, runs: dict[str, Any]) -> None:
    import dataclasses

    from repro.io import atomic_write_json

    atomic_write_json(path, {"runs": {name: {k: v for k, v in dataclasses.asdict(run).items() if k != "path"}
                                      for name, run in sorted(runs.items())}})


def regenerate(console: Any, runs: list[PlannedRun], results_dir: Path, tables_dir: Path, scale: str,
               command: str, notes: Optional[dict[str, str]] = None, tables: Optional[set[str]] = None) -> list[Path]:
    """results/tables/<table>-<scale>.md and the plots, from every finished run of the plan; each
    table headed by its note (``_notes.yaml`` unless ``notes`` is given). Only ``tables`` when given.

    A table is never truncated: a run of the plan that is not here keeps the cells it had, from the
    record written beside the table (``<table>-<scale>.runs.json``); without such a record, a table
    some of whose runs are missing here is left as it is. Plots need every run's metrics.jsonl, so
    they are redrawn only when all of the table's runs are here (or the plot does not exist yet)."""
    from repro.io import atomic_write_text
    from repro.results.compare import build_comparison, load_run
    from repro.results.exit_curves import curves_markdown, plot_curves, read_curve
    from repro.results.plots import write_plots
    from repro.results.studies import load_studies, study_markdown
    from repro.results.tables import PAPER_TABLES, load_paper_table, render_markdown

    # training runs whose exported model a later run evaluates (an exit curve of it is not its evaluation)
    evaluated = {r.model_from for r in runs if r.command != "exit_curve"}
    studies = load_studies(ROWS_DIR)
    written = []
    for table in dict.fromkeys(t for r in runs for t in r.tables):
        if tables is not None and table not in tables:
            continue
        curve_runs = [r for r in runs if table in r.tables and r.command == "exit_curve"]
        mine = [r for r in runs if table in r.tables and r.command != "exit_curve"]
        here = {str(path.relative_to(results_dir)): (r.name, load_run(path))
                for r in mine if is_done(r, results_dir) for path in r.result_dirs(results_dir)}
        record_path, target = _record_path(tables_dir, table, scale), tables_dir / f"{table}-{scale}.md"
        # the table reports each row's evaluation; the training curves come from every run
        reported = {name: run for name, (planned, run) in here.items() if planned not in evaluated}
        recorded = read_record(record_path, results_dir)
        complete = all(is_done(r, results_dir) for r in mine)
        if not recorded and not complete and target.is_file():
            console.print(f"[yellow]kept {target}[/yellow]: some of its runs are not here and it has no record of "
                          f"them ({record_path.name}); run every row of the table once to merge into it")
            continue
        planned = {r.name for r in mine}  # a suite's record names are <run>/<benchmark>
        merged = {name: run for name, run in recorded.items()
                  if name in planned or str(Path(name).parent) in planned} | reported
        if table in PAPER_TABLES:  # a row shared with a table of fewer envs (gigpo-groups: ALFWorld only) leaves the rest out
            envs = load_paper_table(table).envs
            merged = {name: run for name, run in merged.items() if run.env in envs}
        if not merged:
            continue
        comparison = build_comparison(list(merged.values()), table if table in PAPER_TABLES else "none", command)
        comparison.note = (table_notes(scale) if notes is None else notes).get(table, "")
        prefix = f"{table}-{scale}-"
        draw_curves = complete or not any(tables_dir.glob(f"{prefix}*.png"))  # before this table's own PNGs land
        text = render_markdown(comparison)
        if table in studies:
            text += "\n" + study_markdown(studies[table], list(merged.values()), {r.row_id: r.label for r in comparison.rows})
        curves = {f"{r.label or r.row} (seed {r.seed})": read_curve(results_dir / r.name)
                  for r in curve_runs if is_done(r, results_dir)}
        if curves:
            text += "\n" + curves_markdown(curves)
            written.append(plot_curves(curves, tables_dir / f"{table}-{scale}-exit_curves.png",
                                       f"{table}: forced early exits"))
        atomic_write_text(target, text)
        write_record(record_path, merged)
        written.append(target)
        if draw_curves:
            written += write_plots([run for _, run in here.values()], tables_dir, prefix=prefix)
        else:
            console.print(f"kept the plots of {table}: their curves need every run's metrics.jsonl, and some runs "
                          f"are not here")
    for path in written:
        console.print(f"written: {path}")
    return written


def main(argv: Optional[list[str]] = None) -> int:
    from repro.console import make_console

    parser = argparse.ArgumentParser(prog="python -m repro.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="cpu", help="cpu (this machine) | paper (GPU machine, real checkpoints)")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "results" / "reproduce")
    parser.add_argument("--tables-dir", type=Path, default=REPO_ROOT / "results" / "tables")
    parser.add_argument("--only", help="run only the row files matching this glob, or any of several separated by "
                                       "commas, e.g. 'learning-maze/*' or 'gigpo-efficiency/*,gigpo-horizon/*'")
    parser.add_argument("--jobs", type=int, default=None,
                        help="runs at once; default: at scale cpu one per core (every cpu run uses one thread, so "
                             "2 on a 2-core machine halves the wall time and changes no number), at scale paper 1 "
                             "(each run takes the GPUs)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the time estimate, check every run's config, run nothing")
    args = parser.parse_args(argv)
    console = make_console()
    try:
        runs, without = plan(args.scale, only=args.only)
        results_dir = args.results_dir / args.scale
        print_plan(console, runs, results_dir)
        if without:
            console.print(f"rows without a '{args.scale}' scale (not run): {', '.join(without)}")
        check_configs(runs, results_dir)
        if args.dry_run:
            return 0
        started = time.perf_counter()
        default_jobs = len(os.sched_getaffinity(0)) if args.scale == "cpu" else 1
        jobs = default_jobs if args.jobs is None else args.jobs  # --jobs 0 is refused, not the default
        console.print(f"{jobs} run(s) at once")
        failed = execute(console, runs, results_dir, jobs)
        command = f"make reproduce-tables SCALE={args.scale}"
        # the tables of the rows that ran, from every finished run of the whole plan merged into what
        # the tables held: a run of a few rows (--only) adds or replaces those rows and keeps the rest
        regenerate(console, plan(args.scale)[0], results_dir, args.tables_dir, args.scale, command,
                   tables={t for r in runs for t in r.tables})
        console.print(f"reproduce-tables took {(time.perf_counter() - started) / 60:.1f} min")
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if failed:
        console.print(f"[red]{len(failed)} run(s) failed[/red]: {', '.join(failed)} (rerun to retry; logs beside them)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
