"""``repro eval --suite sgrpo``: the S-GRPO paper's evaluation protocol on all five benchmarks and
one table in the layout of its Table 1, the paper's rows beside ours (docs/sgrpo.md §2.10, §3).

Per-benchmark samples (16 AIME 2024 / AMC 2023, 8 MATH-500 / GPQA Diamond, 4 GSM8K) and the
sampling settings the paper does not state (T = 0.6, top-p = 0.95, 32K tokens: our assumption,
recorded in every run) are defaults: a key set in the config file or on the command line wins.
The random tiny model never ends a response by itself, so for ``--model tiny`` the length cap
defaults to :data:`TINY_MAX_NEW_TOKENS` instead of 32K.

The paper's printed "Overall" cells are recomputed from each row's five benchmarks; cells that
disagree beyond rounding (docs/sgrpo.md §3.3) are marked with † and listed under the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from repro.config import peek_value
from repro.console import make_console
from repro.envs import ENVS
from repro.errors import ReproError
from repro.eval.config import PAPER_MATH_SAMPLING, TINY_MAX_NEW_TOKENS
from repro.io import atomic_write_json, atomic_write_text
from repro.paths import REPO_ROOT
from repro.policy import load_policy
from repro.progress import print_plan
from repro.results.schema import read_results
from repro.results.tables import markdown_table

# (env, samples per problem) in Table 1's column order
SGRPO_BENCHMARKS = (("gsm8k", 4), ("aime2024", 16), ("amc2023", 16), ("math500", 8), ("gpqa_diamond", 8))
# set as overrides, so the protocol's sampling beats what a trained model's run validated with
SGRPO_SAMPLING = {f"sampling.{k}": v for k, v in PAPER_MATH_SAMPLING.items()}
SUITES = {"sgrpo": SGRPO_BENCHMARKS}
PAPER_TABLE = REPO_ROOT / "repro" / "results" / "paper" / "sgrpo_table1.yaml"
# Rounding slack when recomputing the paper's Overall cells: each accuracy cell is printed to
# 0.1 (±0.05), each token cell to 1 (±0.5), and the Overall cell itself to its printed precision.
CELL_SLACK = {"acc": 0.05, "tok": 0.5}
DELTA_PCT_SLACK = 0.1
MARK = "†"


@dataclass
class BenchmarkResult:
    env: str
    samples: int
    status: str  # "ok" or "not run: <reason>"
    accuracy: Optional[float] = None  # percent
    mean_tokens: Optional[float] = None
    results: Optional[str] = None  # the benchmark's results.json


# -- the paper's table and its audit ------------------------------------------------------------


def load_paper_table(path: Path = PAPER_TABLE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _half_unit(printed: str) -> float:
    digits = printed.rstrip("%")
    return 0.5 * 10 ** -(len(digits.split(".")[1]) if "." in digits else 0)


def audit_overall(table: dict[str, Any]) -> list[dict[str, Any]]:
    """Every printed Overall cell (mean accuracy, mean tokens, and the deltas vs. Vanilla) that
    disagrees with the plain mean of its row's five benchmarks beyond rounding."""
    wrong = []
    for block in table["blocks"]:
        baseline = None
        for row in block["rows"]:
            cells = row["cells"]
            if cells[10] is None:
                continue
            acc, tok = sum(cells[0:10:2]) / 5, sum(cells[1:10:2]) / 5
            found = []
            if abs(cells[10] - acc) > CELL_SLACK["acc"] + 0.005:
                found.append(("overall_acc", f"{cells[10]:.2f}", f"{acc:.2f}"))
            if abs(cells[11] - tok) > CELL_SLACK["tok"] + 0.5:
                found.append(("overall_tok", f"{cells[11]:,.0f}", f"{tok:,.1f}"))
            if baseline is None:
                baseline = (acc, tok)
            elif row.get("printed_deltas"):
                acc_delta, tok_delta = row["printed_deltas"]
                true_acc, true_tok = acc - baseline[0], 100 * (tok / baseline[1] - 1)
                if abs(float(acc_delta) - true_acc) > CELL_SLACK["acc"] + _half_unit(acc_delta):
                    found.append(("acc_delta", acc_delta, f"{true_acc:+.2f}"))
                if abs(float(tok_delta.rstrip("%")) - true_tok) > DELTA_PCT_SLACK + _half_unit(tok_delta):
                    found.append(("tok_delta", tok_delta, f"{true_tok:+.1f}%"))
            wrong += [{"model": block["model"], "row": row["label"], "cell": c, "printed": p, "recomputed": r}
                      for c, p, r in found]
    return wrong


# -- table layout -------------------------------------------------------------------------------


def _fmt(value: Optional[float], kind: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if kind == "acc" else f"{value:,.0f}"


def our_row(results: list[BenchmarkResult]) -> list[str]:
    cells = []
    for r in results:
        cells += [_fmt(r.accuracy, "acc"), _fmt(r.mean_tokens, "tok")] if r.status == "ok" else ["not run", "–"]
    ran = [r for r in results if r.status == "ok"]
    partial = f" ({len(ran)}/{len(results)})" if len(ran) < len(results) else ""
    if ran:
        cells += [f"{sum(r.accuracy for r in ran) / len(ran):.2f}{partial}",
                  f"{sum(r.mean_tokens for r in ran) / len(ran):,.0f}{partial}"]
    else:
        cells += ["–", "–"]
    return cells


def paper_rows(table: dict[str, Any], wrong: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(label, cells) per paper row; wrong Overall cells carry the mark."""
    marked = {(w["model"], w["row"], w["cell"]) for w in wrong}
    rows = []
    for block in table["blocks"]:
        for row in block["rows"]:
            c = row["cells"]
            cells = [_fmt(c[i], "acc" if i % 2 == 0 else "tok") for i in range(10)]
            key = (block["model"], row["label"])

            def mark(cell: str, text: str) -> str:
                return text + MARK if (*key, cell) in marked else text

            acc = mark("overall_acc", "–" if c[10] is None else f"{c[10]:.2f}")
            tok = mark("overall_tok", _fmt(c[11], "tok"))
            if row.get("printed_deltas"):
                acc += f" ({mark('acc_delta', row['printed_deltas'][0])})"
                tok += f" ({mark('tok_delta', row['printed_deltas'][1])})"
            rows.append((f"paper · {block['model']} · {row['label']}", cells + [acc, tok]))
    return rows


def table_header() -> list[str]:
    labels = {"gsm8k": "GSM8K", "aime2024": "AIME24", "amc2023": "AMC23", "math500": "MATH-500", "gpqa_diamond": "GPQA-D"}
    header = ["method"]
    for env, _ in SGRPO_BENCHMARKS:
        header += [f"{labels[env]} acc", f"{labels[env]} tok"]
    return header + ["Overall acc", "Overall tok"]


def footnotes(wrong: list[dict[str, Any]], results: list[BenchmarkResult]) -> list[str]:
    notes = [f"{MARK} {w['model']} · {w['row']} · {w['cell']}: printed {w['printed']}, recomputed {w['recomputed']}"
             for w in wrong]
    notes += [f"{r.env}: {r.status}" for r in results if r.status != "ok"]
    return notes


# -- running the suite --------------------------------------------------------------------------


def suite_defaults(samples: int, config_file: Optional[Path], overrides: list[str]) -> list[str]:
    """The suite's settings for keys the config file and the command line leave unset."""
    model_path = peek_value("model.path", config_file, overrides, default="tiny")
    defaults = {"samples": samples, **SGRPO_SAMPLING}
    if model_path == "tiny":
        defaults["sampling.max_new_tokens"] = TINY_MAX_NEW_TOKENS
    return [f"{k}={v}" for k, v in defaults.items() if peek_value(k, config_file, overrides) is None]


def _benchmark_result(env: str, results_path: Path) -> BenchmarkResult:
    results = read_results(results_path.parent)
    return BenchmarkResult(env, results.counts["samples_per_problem"], "ok", 100 * results.value("accuracy"),
                           results.value("mean_tokens"), str(results_path))


def suite_configs(suite: str, config_file: Optional[Path], overrides: list[str], suite_dir: Path) -> list[tuple[str, Any]]:
    """(benchmark, its eval config) for every benchmark of the suite, each run into ``suite_dir/<benchmark>``."""
    from repro.eval.config import build_eval_config

    if suite not in SUITES:
        raise ReproError(f"unknown suite '{suite}'; known: {', '.join(SUITES)}")
    rest = [o for o in overrides if not o.startswith(("results_dir=", "run_name="))]
    return [(env, build_eval_config(env, config_file, suite_defaults(samples, config_file, rest) + rest
                                    + [f"results_dir={suite_dir}", f"run_name={env}"]))
            for env, samples in SUITES[suite]]


def suite_plan(suite: str, configs: list[tuple[str, Any]], suite_dir: Path) -> list[str]:
    lines = [f"plan: repro eval --suite {suite} ({len(configs)} benchmarks) -> {suite_dir}/"]
    for env, cfg in configs:
        limit = f"first {cfg.limit} " if cfg.limit else ""
        lines.append(f"  {env:<13} {limit}problems x {cfg.samples} samples, ≤ {cfg.sampling.max_new_tokens} tokens "
                     f"at T {cfg.sampling.temperature:g}, top-p {cfg.sampling.top_p:g}")
    model = configs[0][1].model if configs else None
    return lines + ([f"  model         {model.path} ({model.backend} backend)"] if model else [])


def run_suite(suite: str, config_file: Optional[Path], overrides: list[str], fresh: bool = False,
              dry_run: bool = False) -> Path:
    """Run every benchmark of the suite (one policy load), write ``<results_dir>/<run>/`` with
    one sub-run per benchmark plus table.md and suite.json; print the table. An existing suite
    directory is refused unless ``fresh``."""
    import dataclasses
    import time

    from rich.console import Console
    from rich.table import Table

    from repro.eval.config import inheritance_note
    from repro.eval.math import run_math_eval
    from repro.results.run_dir import claim_new_run

    console = make_console()
    results_dir = peek_value("results_dir", config_file, overrides, default="results")
    run_name = peek_value("run_name", config_file, overrides) or f"suite-{suite}-{time.strftime('%Y%m%d-%H%M%S')}"
    suite_dir = Path(results_dir) / run_name
    rest = [o for o in overrides if not o.startswith(("results_dir=", "run_name="))]
    configs = suite_configs(suite, config_file, overrides, suite_dir)
    print_plan(suite_plan(suite, configs, suite_dir) + [n for _, c in configs if (n := inheritance_note(c))])
    if dry_run:
        return suite_dir
    claim_new_run(suite_dir, fresh)
    policy, results = None, []
    for env, cfg in configs:
        try:  # a benchmark whose data is not here (GPQA Diamond is not shipped) is reported, not fatal
            ENVS.get(env)(cfg.env, cfg.data_dir).problems(cfg.split or cfg.env.split)
        except ReproError as e:
            results.append(BenchmarkResult(env, cfg.samples, f"not run: data missing ({e})"))
            console.print(f"[yellow]{env}: not run: data missing[/yellow] ({e})")
            continue
        policy = policy or load_policy(cfg.model)
        results.append(_benchmark_result(env, run_math_eval(cfg, policy)))

    paper = load_paper_table()
    wrong = audit_overall(paper)
    model_label = f"ours · {peek_value('model.path', config_file, rest, default='tiny')}"
    rows = [(model_label, our_row(results))] + paper_rows(paper, wrong)
    header = table_header()
    notes = footnotes(wrong, results)
    atomic_write_text(suite_dir / "table.md", markdown_table(header, [[label, *cells] for label, cells in rows]) + "\n\n"
                      + "\n".join(f"- {n}" for n in notes)
                      + f"\n\nsource of paper rows: {paper['source'].strip()}\n")
    atomic_write_json(suite_dir / "suite.json", {
        "suite": suite, "benchmarks": [dataclasses.asdict(r) for r in results], "paper_overall_errors": wrong,
        "sampling": dataclasses.asdict(cfg.sampling), "tiny_max_new_tokens": TINY_MAX_NEW_TOKENS,
    })

    table = Table(title=f"S-GRPO Table 1 layout: accuracy (%) and mean tokens ({suite_dir})")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
    for label, cells in rows:
        table.add_row(label, *cells, end_section=label.startswith("ours"))
    Console(width=max(console.width, 220)).print(table)  # 13 columns: never fold a number
    for n in notes:
        console.print(n)
    console.print(f"table: {suite_dir / 'table.md'}")
    return suite_dir
