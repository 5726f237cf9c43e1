"""``repro compare``: our runs beside a paper table, with the difference and every cell's provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repro.console import make_console
from repro.io import atomic_write_text

HELP = """Compare run directories with a paper table (ours, paper, Δ; mean ± std over seeds).

RUN_DIR is a finished run (its results.json) or a directory holding runs; a directory that is no usable run (unfinished, an SFT run, another schema) is skipped with a one-line warning. The seeds of one config are aggregated; every cell lists model, steps, seeds, episodes, hardware, wall time, commit and each seed's results.json config_sha256.

Tables: gigpo-table1, gigpo-table5 (ω sweep), gigpo-fig4 (A^E/A^S ablation), gigpo-groups (the paper's §5.5 step-group sizes), sgrpo-table1, sgrpo-table2, sgrpo-fig3 (budget sweep), or none (our runs alone: one column per env and headline metric, no paper column). Default: from the runs' envs, none when an env is in no paper table (e.g. maze). Each run sits among the rows of the paper block its claim or model names (--paper-model chooses one for all).

--plots also writes <out>-training_curves.png (training rollouts as lines, validation as dots) and <out>-step_group_sizes.png beside the written table, one set per output file.
"""


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (or directories of runs).", show_default=False)],
    paper: Annotated[Optional[str], typer.Option("--paper", help="gigpo-table1 | gigpo-table5 | gigpo-fig4 | gigpo-groups | sgrpo-table1 | sgrpo-table2 | sgrpo-fig3 | none (our runs only).")] = None,
    paper_model: Annotated[Optional[str], typer.Option("--paper-model", help="The paper's row block to put every run in (e.g. Qwen2.5-7B-Instruct); default: each run's claim, else the block named like its model, else the first.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md | csv | json (the written file).")] = "md",
    out: Annotated[Optional[Path], typer.Option("--out", help="Output file (default: compare-<table>.<format> beside the runs); plots go beside it.")] = None,
    plots: Annotated[bool, typer.Option("--plots", help="Also write <out stem>-training_curves.png and <out stem>-step_group_sizes.png beside the output file.")] = False,
) -> None:
    import os
    import shlex
    import sys

    from repro.results.compare import build_comparison, default_table, load_runs
    from repro.results.tables import check_format, render, rich_tables

    check_format(fmt)
    console = make_console()
    runs = load_runs(run_dirs, warn=lambda text: print(f"warning: {text}", file=sys.stderr))
    table = paper or default_table(runs)
    command = "repro " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["compare"] else ""
    comparison = build_comparison(runs, table, command, paper_model=paper_model)
    for t in rich_tables(comparison):
        console.print(t)
    parent = Path(os.path.commonpath([str(r.path.resolve().parent) for r in runs]))
    target = out or parent / f"compare-{comparison.table.name}.{fmt}"
    atomic_write_text(target, render(comparison, fmt))
    console.print(f"written: {target}")
    if plots:
        from repro.results.plots import write_plots

        for png in write_plots(runs, target.parent, prefix=f"{target.stem}-"):
            console.print(f"plot: {png}")
