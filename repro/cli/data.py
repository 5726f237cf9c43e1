"""``repro data fetch`` and ``repro data check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repro.console import make_console
from repro.data.sources import load_registry
from repro.errors import ReproError
from repro.paths import data_dir as resolve_data_dir, default_data_dir

HELP = "Download the datasets from their pinned sources (sha256-verified, resumable) or check a data root."

app = typer.Typer(no_args_is_help=True)


@app.command("fetch", help="Download datasets (all, or the NAMEs: gsm8k, math500, alfworld, ... or file paths) "
                           "from the repositories and commits recorded in SOURCES.md; verifies each sha256, "
                           "resumes partial downloads, writes atomically.")
def fetch_command(
    names: Annotated[Optional[list[str]], typer.Argument(help="Datasets or file paths (default: all).", show_default=False)] = None,
    dest: Annotated[Optional[Path], typer.Option("--dest", help="Data root to fill (default: $REPRO_DATA or ~/.cache/repro/data).")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="A mirror of the data root layout (BASE/<dataset>/<file>) instead of raw GitHub.")] = None,
) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from repro.data.fetch import fetch_file, select

    root = dest or default_data_dir()
    chosen = select(load_registry(), names or [])
    skipped = [s for s in chosen if not s.fetchable and not base_url]
    todo = [s for s in chosen if s not in skipped]
    console = make_console(stderr=True)
    outcome: dict[str, int] = {"present": 0, "downloaded": 0}
    failures: list[str] = []
    known = sum(s.bytes or 0 for s in todo)
    with Progress(TextColumn("[bold]fetch {task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(f"{len(todo)} files", total=known or None)
        for src in todo:
            try:
                outcome[fetch_file(src, root, base_url, lambda n: progress.advance(task, n))] += 1
            except ReproError as e:
                failures.append(str(e))
    for src in skipped:
        console.print(f"skipped {src.path}: {src.note}")
    for message in failures:
        console.print(f"[red]failed[/red] {message}")
    typer.echo(f"{root}: {outcome['downloaded']} downloaded, {outcome['present']} already present, "
               f"{len(skipped)} skipped, {len(failures)} failed")
    if failures:
        raise ReproError(f"{len(failures)} of {len(todo)} files failed (first: {failures[0]})")


@app.command("check", help="Verify a data root against the recorded sha256 of every file; non-zero exit on problems.")
def check_command(
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Data root (default: $REPRO_DATA or ../shared/data).")] = None,
) -> None:
    from repro.data.fetch import check_files

    root = resolve_data_dir(str(data_dir) if data_dir else None)
    checks = check_files(root, load_registry())
    print_check_table(f"data check: {root}", checks)
    bad = [c for c in checks if c.status != "ok"]
    if bad:
        raise ReproError(f"{len(bad)} of {len(checks)} files missing or mismatching under {root} "
                         f"(first: {bad[0].source.path} {bad[0].status}); `repro data fetch` repairs fetchable ones")
    typer.echo(f"ok: all {len(checks)} files match their recorded sha256")


def print_check_table(title: str, checks: list) -> None:
    """One row per dataset, then one per file that is not ok (at most 20)."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("dataset", "files", "ok", "missing", "mismatch", "unchecked"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for dataset in sorted({c.source.dataset for c in checks}):
        rows = [c for c in checks if c.source.dataset == dataset]
        table.add_row(dataset, str(len(rows)),
                      *(str(sum(c.status == s for c in rows)) for s in ("ok", "missing", "mismatch", "unchecked")))
    console = make_console()
    console.print(table)
    for c in [c for c in checks if c.status in ("missing", "mismatch")][:20]:
        console.print(f"  {c.status:8} {c.source.path}")
