"""The papers' tables as data (``repro/results/paper/*.yaml``) and the renderers of a comparison
(ours beside the paper's, and the difference) to Rich, Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import functools
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
                "sgrpo-table2": "sgrpo_table2.yaml", "gigpo-table5": "gigpo_table5.yaml",
                "gigpo-fig4": "gigpo_fig4.yaml", "gigpo-groups": "gigpo_groups.yaml", "sgrpo-fig3": "sgrpo_fig3.yaml"}
OURS_ONLY = "none"  # --paper none: a table of our runs alone, for envs no paper table has
OURS_ONLY_NAME = "ours"  # that table's name in file names and records
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
    overall_of: tuple[str, ...] = ()  # plain mean of these columns (docs/sgrpo.md §3.3)

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

    @property
    def has_paper(self) -> bool:
        """False for the table of our runs alone (no paper values, so no paper or Δ columns)."""
        return any(self.blocks.values())


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
        raise ReproError(f"unknown paper table '{name}'{did_you_mean(name, [*PAPER_TABLES, OURS_ONLY])}; "
                         f"known: {', '.join(PAPER_TABLES)}, or {OURS_ONLY} (our runs only)")
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


@functools.cache
def paper_envs() -> frozenset[str]:
    """Every env some paper table has a column for."""
    return frozenset(env for name in PAPER_TABLES for env in load_paper_table(name).envs)


@functools.cache
def paper_row_labels() -> dict[str, str]:
    """Row id -> the papers' label for it (the first table that has the id), for rows shown outside their table."""
    labels: dict[str, str] = {}
    for name in PAPER_TABLES:
        for rows in load_paper_table(name).blocks.values():
            for r in rows:
                labels.setdefault(r.id, r.label)
    return labels


def row_label(row_id: str) -> str:
    return paper_row_labels().get(row_id, row_id)


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
    note: str = ""  # what the numbers are (scale, model, budget), printed under the heading

    def blocks(self) -> list[str]:
        return list(dict.fromkeys(r.block for r in self.rows))


def _fmt(value: Optional[Value], digits: int) -> str:
    return "–" if value is None else value.text(digits)


def _fmt_diff(diff: Optional[float], digits: int) -> str:
    return "–" if diff is None or math.isnan(diff) else f"{diff:+,.{digits}f}"


def header_cells(cmp: Comparison) -> list[str]:
    cells = ["method", "our model"]
    for c in cmp.columns:
        cells += [f"{c.label} (ours)", f"{c.label} (paper)", "Δ"] if cmp.table.has_paper else [c.label]
    return cells


def body_cells(cmp: Comparison, row: ComparisonRow) -> list[str]:
    cells = [row.label, row.our_model or "–"]
    for c in cmp.columns:
        cells.append(_fmt(row.ours.get(c.id), c.digits))
        if cmp.table.has_paper:
            cells += [_fmt(row.paper.get(c.id), c.digits), _fmt_diff(row.diff(c.id), c.digits)]
    return cells


PROVENANCE_FIELDS = ("method", "env", "model", "steps", "seeds", "episodes", "hardware", "wall time",
                     "commit", "results.json config_sha256 (per seed)")
SHA_DIGITS = 8  # of each seed's config_sha256 in a table


def provenance_cells(row: ComparisonRow) -> list[list[str]]:
    out = []
    for p in row.provenance:
        out.append([row.label, p["env"], p["model"], str(p["steps"]), ",".join(map(str, p["seeds"])),
                    str(p["episodes"]), p["hardware"], f"{p['wall_s'] / 60:.1f} min", ", ".join(p["commits"]),
                    " ".join(h[:SHA_DIGITS] for h in p.get("config_sha256", []))])
    return out


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """The one Markdown table renderer (compare's tables, the S-GRPO suite's Table 1 layout); a
    cell's ``|`` is escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


OURS_TEXT = "Ours: mean ± sample std over seeds (n = seeds), for training runs at each run's last validation"


def render_markdown(cmp: Comparison) -> str:
    t = cmp.table
    parts = [f"# {t.title}", ""]
    if cmp.command:
        parts += [f"Produced by: `{cmp.command}`", ""]
    if cmp.note:
        parts += [cmp.note, ""]
    if t.has_paper:
        parts += [f"Paper: {t.source}", "", f"Paper's numbers: {t.estimator}.", "",
                  f"{OURS_TEXT} (same metric as the paper's); Δ = ours − paper. The provenance of every cell is "
                  "listed below the table.", ""]
    else:
        parts += [f"{OURS_TEXT}. No paper values (--paper none), so no paper or Δ columns. The "
                  "provenance of every cell is listed below the table.", ""]
    for block in cmp.blocks():
        rows = [r for r in cmp.rows if r.block == block]
        heading = f"## Rows of the paper's {block} block" if t.has_paper else "## Our runs"
        parts += [heading, "", markdown_table(header_cells(cmp), [body_cells(cmp, r) for r in rows]), ""]
    prov = [p for r in cmp.rows for p in provenance_cells(r)]
    if prov:
        parts += ["## Provenance", "", markdown_table(list(PROVENANCE_FIELDS), prov), ""]
    return "\n".join(parts)


PAPER_RECORD_KEYS = ("paper_model", "paper_mean", "paper_std", "diff")


def comparison_records(cmp: Comparison) -> list[dict[str, Any]]:
    """One flat record per (row, column) with a value on either side (CSV and JSON); the paper's keys
    only when the table has paper values."""
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
                "config_sha256": p.get("config_sha256"), "runs": p.get("runs"),
            })
            if not cmp.table.has_paper:
                for key in PAPER_RECORD_KEYS:
                    del records[-1][key]
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
            "command": cmp.command, "note": cmp.note, "cells": comparison_records(cmp)}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"md": render_markdown, "csv": render_csv, "json": render_json}


def check_format(fmt: str) -> None:
    if fmt not in RENDERERS:
        raise ReproError(f"unknown format '{fmt}'{did_you_mean(fmt, list(FORMATS))}; choose from {', '.join(FORMATS)}")


def render(cmp: Comparison, fmt: str) -> str:
    check_format(fmt)
    return RENDERERS[fmt](cmp)


def rich_tables(cmp: Comparison) -> list[Any]:
    """The comparison for a terminal, readable at 80 columns: per paper block one line per (method,
    column) we have a value for, ours / paper / Δ in columns of their own; then the provenance."""
    from rich.table import Table

    tables = []
    with_paper = cmp.table.has_paper
    for block in cmp.blocks():
        title = (f"{cmp.table.title} — paper's {block} rows" if with_paper
                 else f"{cmp.table.title} (mean ± std over seeds)")
        table = Table(title=title, title_justify="left")
        for name in ("method", "our model", "column", "ours") + (("paper", "Δ") if with_paper else ()):
            table.add_column(name, justify="right" if name in ("ours", "paper", "Δ") else "left")
        for r in (r for r in cmp.rows if r.block == block and r.our_model):
            shown = [c for c in cmp.columns if r.ours.get(c.id) is not None]
            for i, c in enumerate(shown):
                cells = [r.label if i == 0 else "", r.our_model if i == 0 else "", c.label,
                         _fmt(r.ours.get(c.id), c.digits)]
                if with_paper:
                    cells += [_fmt(r.paper.get(c.id), c.digits), _fmt_diff(r.diff(c.id), c.digits)]
                table.add_row(*cells, end_section=i == len(shown) - 1)
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
