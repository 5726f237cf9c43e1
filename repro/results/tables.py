"""The papers' tables as data (``repro/results/paper/*.yaml``) and the renderers of a comparison
(ours beside the paper's, and the difference) to Rich, Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from repro.errors import ReproError
from repro.registry import did_you_mean

PAPER_DIR = Path(__file__).resolve().parent / "paper"
PAPER_TABLES = {"gigpo-table1": "gigpo_table1.yaml", "sgrpo-table1": "sgrpo_table1.yaml",
                "sgrpo-table2": "sgrpo_table2.yaml"}
FORMATS = ("md", "csv", "json")


@dataclass(frozen=True)
class Value:
    """A number with its spread: the paper's "mean±std" or our mean ± std over seeds."""

    mean: float
    std: Optional[float] = None
    n: Optional[int] = None  # seeds behind it (ours only)

    def text(self, digits: int) -> str:
        body = f"{self.mean:,.{digits}f}"
        if self.std is not None and self.std > 0:
            body += f" ± {self.std:,.{digits}f}"
        return body + (f" (n={self.n})" if self.n is not None else "")


@dataclass(frozen=True)
class Column:
    id: str
    label: str
    env: Optional[str] = None  # None for a derived "overall" column
    metric: Optional[str] = None
    scale: float = 1.0  # our metric x scale = the paper's unit (fractions -> %)
    overall_of: tuple[str, ...] = ()  # plain mean of these columns (sgrpo.md §3.3)

    @property
    def digits(self) -> int:
        return 0 if self.metric == "mean_tokens" or (self.overall_of and "tok" in self.id) else 1


@dataclass(frozen=True)
class PaperRow:
    id: str
    label: str
    type: str
    cells: dict[str, Optional[Value]]


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    source: str
    estimator: str
    columns: tuple[Column, ...]
    blocks: dict[str, tuple[PaperRow, ...]]  # paper model -> its rows, in the paper's order

    @property
    def envs(self) -> set[str]:
        return {c.env for c in self.columns if c.env}


def parse_paper_cell(cell: Any) -> Optional[Value]:
    """``5.9`` | ``"64.8±3.5"`` | ``null`` (not reported) -> Value | None."""
    if cell is None:
        return None
    if isinstance(cell, (int, float)):
        return Value(float(cell))
    mean, sep, std = str(cell).partition("±")
    try:
        return Value(float(mean), float(std) if sep else None)
    except ValueError:
        raise ReproError(f"paper cell '{cell}' is not a number or 'mean±std'") from None


def load_paper_table(name: str) -> PaperTable:
    if name not in PAPER_TABLES:
        raise ReproError(f"unknown paper table '{name}'{did_you_mean(name, list(PAPER_TABLES))}; "
                         f"known: {', '.join(PAPER_TABLES)}")
    raw = yaml.safe_load((PAPER_DIR / PAPER_TABLES[name]).read_text())
    columns = tuple(Column(c["id"], c["label"], c.get("env"), c.get("metric"), float(c.get("scale", 1)),
                           tuple(c.get("overall_of", ()))) for c in raw["columns"])
    blocks = {}
    for block in raw["blocks"]:
        rows = []
        for r in block["rows"]:
            if len(r["cells"]) != len(columns):
                raise ValueError(f"{name}: row {r['id']} of {block['model']} has {len(r['cells'])} cells, "
                                 f"expected {len(columns)}")
            cells = {c.id: parse_paper_cell(v) for c, v in zip(columns, r["cells"])}
            rows.append(PaperRow(r["id"], r["label"], r.get("type", ""), cells))
        blocks[block["model"]] = tuple(rows)
    return PaperTable(raw["name"], raw["title"], " ".join(raw["source"].split()), raw.get("estimator", ""),
                      columns, blocks)


# -- a rendered comparison ------------------------------------------------------------------------


@dataclass
class ComparisonRow:
    block: str  # the paper model whose rows this one sits among
    row_id: str
    label: str
    our_model: str  # "" when we have no run for the row
    ours: dict[str, Optional[Value]]
    paper: dict[str, Optional[Value]]
    provenance: list[dict[str, Any]] = field(default_factory=list)  # one per env cell

    def diff(self, column_id: str) -> Optional[float]:
        ours, paper = self.ours.get(column_id), self.paper.get(column_id)
        return None if ours is None or paper is None else ours.mean - paper.mean


@dataclass
class Comparison:
    table: PaperTable
    columns: tuple[Column, ...]  # the table's columns we have at least one value for
    rows: list[ComparisonRow]
    command: str = ""

    def blocks(self) -> list[str]:
        return list(dict.fromkeys(r.block for r in self.rows))


def _fmt(value: Optional[Value], digits: int) -> str:
    return "–" if value is None else value.text(digits)


def _fmt_diff(diff: Optional[float], digits: int) -> str:
    return "–" if diff is None or math.isnan(diff) else f"{diff:+,.{digits}f}"


def header_cells(cmp: Comparison) -> list[str]:
    cells = ["method", "our model"]
    for c in cmp.columns:
        cells += [f"{c.label} (ours)", f"{c.label} (paper)", "Δ"]
    return cells


def body_cells(cmp: Comparison, row: ComparisonRow) -> list[str]:
    cells = [row.label, row.our_model or "–"]
    for c in cmp.columns:
        cells += [_fmt(row.ours.get(c.id), c.digits), _fmt(row.paper.get(c.id), c.digits),
                  _fmt_diff(row.diff(c.id), c.digits)]
    return cells


PROVENANCE_FIELDS = ("method", "env", "model", "steps", "seeds", "episodes", "hardware", "wall time",
                     "commit", "config hash")


def provenance_cells(row: ComparisonRow) -> list[list[str]]:
    out = []
    for p in row.provenance:
        out.append([row.label, p["env"], p["model"], str(p["steps"]), ",".join(map(str, p["seeds"])),
                    str(p["episodes"]), p["hardware"], f"{p['wall_s'] / 60:.1f} min", ", ".join(p["commits"]),
                    p["config_hash"]])
    return out


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(cmp: Comparison) -> str:
    t = cmp.table
    parts = [f"# {t.title}", ""]
    if cmp.command:
        parts += [f"Produced by: `{cmp.command}`", ""]
    parts += [f"Paper: {t.source}", "", f"Paper's numbers: {t.estimator}.", "",
              "Ours: mean ± sample std over seeds (n = seeds) of the same metric, for training runs at each run's "
              "last validation; Δ = ours − paper. The provenance of every cell is listed below the table.", ""]
    for block in cmp.blocks():
        rows = [r for r in cmp.rows if r.block == block]
        parts += [f"## Rows of the paper's {block} block", "", _md_table(header_cells(cmp), [body_cells(cmp, r) for r in rows]), ""]
    prov = [p for r in cmp.rows for p in provenance_cells(r)]
    if prov:
        parts += ["## Provenance", "", _md_table(list(PROVENANCE_FIELDS), prov), ""]
    return "\n".join(parts)


def comparison_records(cmp: Comparison) -> list[dict[str, Any]]:
    """One flat record per (row, column) with a value on either side (CSV and JSON)."""
    records = []
    for row in cmp.rows:
        prov = {p["env"]: p for p in row.provenance}
        for c in cmp.columns:
            ours, paper = row.ours.get(c.id), row.paper.get(c.id)
            if ours is None and paper is None:
                continue
            p = prov.get(c.env, {}) if c.env else {}
            records.append({
                "table": cmp.table.name, "paper_model": row.block, "row": row.row_id, "method": row.label,
                "column": c.id, "our_model": row.our_model or None,
                "ours_mean": ours.mean if ours else None, "ours_std": ours.std if ours else None,
                "seeds": p.get("seeds"), "paper_mean": paper.mean if paper else None,
                "paper_std": paper.std if paper else None, "diff": row.diff(c.id),
                "steps": p.get("steps"), "episodes": p.get("episodes"), "hardware": p.get("hardware"),
                "wall_s": p.get("wall_s"), "commits": p.get("commits"), "config_hash": p.get("config_hash"),
                "runs": p.get("runs"),
            })
    return records


def render_csv(cmp: Comparison) -> str:
    records = comparison_records(cmp)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["table"])
    writer.writeheader()
    for r in records:
        writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()})
    return out.getvalue()


def render_json(cmp: Comparison) -> str:
    body = {"table": cmp.table.name, "title": cmp.table.title, "source": cmp.table.source,
            "command": cmp.command, "cells": comparison_records(cmp)}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"md": render_markdown, "csv": render_csv, "json": render_json}


def check_format(fmt: str) -> None:
    if fmt not in RENDERERS:
        raise ReproError(f"unknown format '{fmt}'{did_you_mean(fmt, list(FORMATS))}; choose from {', '.join(FORMATS)}")


def render(cmp: Comparison, fmt: str) -> str:
    check_format(fmt)
    return RENDERERS[fmt](cmp)


def rich_tables(cmp: Comparison) -> list[Any]:
    """The paper's layout for a terminal: one column per paper column, each cell three lines
    (ours, paper, Δ); only the rows we have runs for (the written file has every paper row)."""
    from rich.table import Table

    tables = []
    for block in cmp.blocks():
        table = Table(title=f"{cmp.table.title} — paper's {block} rows\n(each cell: ours / [dim]paper[/dim] / Δ)",
                      title_justify="left", show_lines=True)
        table.add_column("method")
        table.add_column("our model")
        for c in cmp.columns:
            table.add_column(c.label, justify="right")
        for r in (r for r in cmp.rows if r.block == block and r.our_model):
            cells = [f"[bold]{_fmt(r.ours.get(c.id), c.digits)}[/bold]\n[dim]{_fmt(r.paper.get(c.id), c.digits)}[/dim]\n"
                     f"{_fmt_diff(r.diff(c.id), c.digits)}" for c in cmp.columns]
            table.add_row(r.label, r.our_model, *cells)
        tables.append(table)
    prov = [p for r in cmp.rows for p in provenance_cells(r)]
    if prov:
        table = Table(title="provenance (one line per cell group)", title_justify="left")
        for h in PROVENANCE_FIELDS:
            table.add_column(h)
        for p in prov:
            table.add_row(*p)
        tables.append(table)
    return tables
