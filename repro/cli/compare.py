"""``repro compare``: our runs beside a paper table, with the difference and every cell's provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

HELP = """Compare run directories with a paper table (ours, paper, Δ; mean ± std over seeds).

RUN_DIR is a run (results.json and/or metrics.jsonl) or a directory holding runs. The seeds of one config are aggregated; every cell lists model, steps, seeds, episodes, hardware, wall time, commit and config hash.

Tables: gigpo-table1, sgrpo-table1, sgrpo-table2, or none (our runs alone: one column per env and headline metric, no paper column). Default: from the runs' envs, none when an env is in no paper table (e.g. maze).

--plots also writes training-curve and GiGPO step-group-size PNGs beside the runs.
"""


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (or directories of runs).", show_default=False)],
    paper: Annotated[Optional[str], typer.Option("--paper", help="gigpo-table1 | sgrpo-table1 | sgrpo-table2 | none (our runs only).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md | csv | json (the written file).")] = "md",
    out: Annotated[Optional[Path], typer.Option("--out", help="Output file (default: compare-<table>.<format> beside the runs).")] = None,
    plots: Annotated[bool, typer.Option("--plots", help="Also write training_curves.png / step_group_sizes.png beside the runs.")] = False,
) -> None:
    import os
    import shlex
    import sys

    from repro.console import make_console

    from repro.io import atomic_write_text
    from repro.results.compare import build_comparison, default_table, expand_run_dirs, load_run
    from repro.results.tables import check_format, render, rich_tables

    check_format(fmt)
    runs = [load_run(p) for p in expand_run_dirs(run_dirs)]
    table = paper or default_table(runs)
    command = "repro " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["compare"] else ""
    comparison = build_comparison(runs, table, command)
    console = make_console()
    for t in rich_tables(comparison):
        console.print(t)
    parent = Path(os.path.commonpath([str(r.path.resolve().parent) for r in runs]))
    target = out or parent / f"compare-{comparison.table.name}.{fmt}"
    atomic_write_text(target, render(comparison, fmt))
    console.print(f"written: {target}")
    if plots:
        from repro.results.plots import write_plots

        for png in write_plots(runs, parent):
            console.print(f"plot: {png}")
