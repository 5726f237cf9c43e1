"""Run directories -> paper-table cells (docs/peers.md §2 row 1: every number says how it was made).

Reads the results.json (:mod:`repro.results.schema`) of any mix of eval and training runs (a
training run reports its last validation, as the papers do), matches each run to a paper row (``claim.json`` written
by ``repro.reproduce``, else inferred from its config), groups the seeds of one config
(same config hash once seeds and run names are removed) and reports mean ± sample std over seeds.
Runs on envs that no paper table has (e.g. the CPU maze study) get a table of their own: one column
per (env, headline metric) they report, no paper column.
"""

from __future__ import annotations

import copy
import hashlib
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from repro.errors import ReproError
from repro.io import atomic_write_json, read_jsonl
from repro.paths import REPO_ROOT
from repro.registry import did_you_mean
from repro.results.run_dir import METRICS_SCHEMA_VERSION
from repro.results.schema import RESPONSES, RESULTS_FILE, Results, read_results
from repro.results.step_groups import share_metrics, singleton_row_share
from repro.results.tables import (OURS_ONLY, OURS_ONLY_NAME, Column, Comparison, ComparisonRow, PaperTable, Value,
                                  load_paper_table, paper_envs, row_label)

METRICS_SCHEMAS = {METRICS_SCHEMA_VERSION}  # metrics.jsonl lines without "schema_version" (before it) are version 1
CLAIM_FILE = "claim.json"
# Keys that differ between the seeds of one cell (or do not change what is computed).
NOT_CELL_KEYS = ("seed", "sampling.seed", "run_name", "results_dir", "data_dir", "rollout.num_workers",
                 "iterations", "save_every", "keep_checkpoints", "report_to", "dump_rows")
GIGPO_MODES = {"mean_std_norm": "gigpo-std", "mean_norm": "gigpo-nostd"}
TRAIN_WALL_KEYS = ("rollout_s", "advantage_s", "update_s", "validation_s")  # rollout_s includes generation
SGRPO_REWARDS = {"decay": "sgrpo", "shortest_one": "shortest-1", "all_one": "all-1"}
OURS_BLOCK = "ours"  # the one block of a table of our runs alone


@dataclass(frozen=True)
class Headline:
    """A metric our tables without a paper and our training curves show."""

    metric: str
    label: str  # table column (after the env name)
    axis_label: str
    scale: float  # shown = metric x scale (fractions -> %)
    upper: Optional[float]  # valid range [0, upper] (None: unbounded), e.g. to clip a seed band


HEADLINE_METRICS = (
    Headline("success_rate", "success (%)", "success rate", 100.0, 1.0),
    Headline("score", "score", "WebShop score (0-100)", 1.0, 100.0),
    Headline("accuracy", "accuracy (%)", "accuracy (pass@1)", 100.0, 1.0),
    Headline("mean_tokens", "mean tokens", "mean generated tokens", 1.0, None),
    Headline("mean_steps", "mean steps", "mean steps per episode", 1.0, None),
)


@dataclass(frozen=True)
class Run:
    """One run directory reduced to what a table cell needs."""

    path: Path
    kind: str  # eval | train
    env: str
    row: str  # paper row id (gigpo-std, grpo, prompting, vanilla, ...) or scripted-<policy>
    model: str  # the model as configured (path or 'tiny'); 'scripted' for scripted policies
    paper_model: Optional[str]  # the paper block the run claims (claim.json), else None
    seed: int
    metrics: dict[str, float]  # at the reported point; training: validation metrics, val_ stripped
    steps: int  # training iterations behind the reported point (0: an eval of the model as given)
    episodes: int  # evaluation episodes (agents) or responses (math: problems x samples)
    wall_s: float
    commit: str
    cell_hash: str
    hardware: str
    label: Optional[str] = None  # the row file's label for a row no paper has (claim.json)
    config_sha256: str = ""  # results.json's provenance.config_sha256 (differs between seeds)


def cell_hash(config: dict[str, Any]) -> str:
    """Hash of the config without the keys that differ between seeds of one cell."""
    stripped = copy.deepcopy(config)
    for key in NOT_CELL_KEYS:
        *parents, leaf = key.split(".")
        node: Any = stripped
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return hashlib.sha256(json.dumps(stripped, sort_keys=True, default=str).encode()).hexdigest()[:12]


def short_commit(commit: Any) -> str:
    """12 hex digits, keeping git_commit's '-dirty': a table must show when its code was uncommitted."""
    sha, dirty, _ = str(commit).partition("-dirty")
    return sha[:12] + ("-dirty" if dirty else "")


def hardware_label(hw: dict[str, Any]) -> str:
    if hw.get("gpu"):
        return f"{hw.get('gpu_count', 1)}x {hw['gpu']}"
    return f"CPU ({hw.get('cpu_count', '?')} cores)"


def infer_row(config: dict[str, Any], is_train: bool, is_math: bool) -> str:
    """The paper row a run belongs to, from what it ran."""
    if is_train:
        algo = config.get("algo", "")
        advantage = config.get("advantage") or {}
        if algo == "gigpo":
            row = GIGPO_MODES.get(advantage.get("mode"), f"gigpo-{advantage.get('mode')}")
            components = advantage.get("components", "both")  # Fig. 4's ablation (repro.algos.gigpo)
            return row if components == "both" else f"{row}-{components}-only"
        if algo == "sgrpo":
            return SGRPO_REWARDS.get(advantage.get("reward", "decay"), f"sgrpo-{advantage.get('reward')}")
        return algo
    if is_math:
        return "vanilla"
    policy = config.get("policy", "model")
    style = (config.get("prompting") or {}).get("style", "plain")
    if style != "plain":  # ReAct / Reflexion (repro.eval.prompting)
        return style if policy == "model" else f"scripted-{policy}-{style}"
    return "prompting" if policy == "model" else f"scripted-{policy}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ReproError(f"cannot read {path}: {e}") from None


def _training_lines(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl of a training run (its training curve), schema version checked."""
    lines = read_jsonl(path / "metrics.jsonl") if (path / "metrics.jsonl").is_file() else []
    for line in lines:
        version = line.get("schema_version", 1)  # lines from before the field are version 1
        if version not in METRICS_SCHEMAS:
            raise ReproError(f"{path / 'metrics.jsonl'} has schema_version {version}; this repro reads "
                             f"{sorted(METRICS_SCHEMAS)}")
    return lines


def _display_path(path: Any) -> str:
    """A model path as tables show it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT)) if Path(path).is_absolute() else str(path)
    except ValueError:
        return str(path)


def _exporting_run(model_path: Any) -> Optional[tuple[dict[str, Any], Results]]:
    """(config, results) of the finished training run whose ``<run>/model`` this is, else None."""
    if not model_path or Path(str(model_path)).name != "model":
        return None
    run = Path(str(model_path)).parent
    if not (run / RESULTS_FILE).is_file() or not (run / "config.yaml").is_file():
        return None
    results = read_results(run)
    if results.kind != "train":
        return None
    return yaml.safe_load((run / "config.yaml").read_text()) or {}, results


def load_run(path: str | Path) -> Run:
    """A finished train or eval run (its results.json, schema :mod:`repro.results.schema`) as a
    table cell's input; a one-line ReproError says why a directory cannot be one."""
    path = Path(path)
    config_path = path / "config.yaml"
    if not path.is_dir() or not ((path / RESULTS_FILE).is_file() or (path / "metrics.jsonl").is_file()):
        raise ReproError(f"{path} is not a run directory (no results.json or metrics.jsonl)")
    if not (path / RESULTS_FILE).is_file():
        raise ReproError(f"{path} has no results.json yet (an unfinished or running run)")
    if not config_path.is_file():
        raise ReproError(f"run directory {path} has no config.yaml")
    config = yaml.safe_load(config_path.read_text()) or {}
    results = read_results(path)
    if results.kind not in ("train", "eval"):
        raise ReproError(f"{path} is a '{results.kind}' run, which has no table cell")
    if not results.metrics:
        raise ReproError(f"{path} has no metrics to tabulate"
                         + (" (a training run without validation: eval_every=0 or too few iterations)"
                            if results.kind == "train" else ""))
    claim = _read_json(path / CLAIM_FILE) if (path / CLAIM_FILE).is_file() else {}
    metrics = {k: m.value for k, m in results.metrics.items()}
    is_train = results.kind == "train"
    if is_train:
        steps = int(results.details.get("validation_iteration") or 0)
        lines = _training_lines(path)
        metrics |= share_metrics(lines, int(config.get("iterations") or 0))  # the paper's §5.5 step-group shares
        metrics |= singleton_row_share(lines)
        wall = sum(line.get("timing", {}).get(k, 0.0) for line in lines for k in TRAIN_WALL_KEYS) or results.provenance.elapsed_s
        model = _display_path(results.model.path or "?")
    else:
        steps = 0
        trained = _exporting_run(results.model.path)
        if trained is not None:  # an eval of a training run's exported model: that run's steps and config
            train_config, train_results = trained
            steps = int(train_results.details.get("iterations_done", 0))
            config = copy.deepcopy(config)
            config["model"]["path"] = f"trained by run config {cell_hash(train_config)}"  # equal across seeds
        wall = results.provenance.elapsed_s
        model = _display_path(results.model.path) if results.model.path else "scripted"
        if trained is not None:
            model = f"{_display_path(trained[0]['model']['path'])} after {trained[0].get('algo', 'RL')}"
    is_math = results.unit == RESPONSES
    hw = results.provenance.hardware
    return Run(
        path=path, kind=results.kind, env=results.env, seed=int(config.get("seed", 0)),
        row=claim.get("row") or infer_row(config, is_train, is_math), model=model,
        paper_model=claim.get("model"), metrics=metrics, steps=steps,
        episodes=results.units, wall_s=float(wall),
        commit=short_commit(results.provenance.git_commit), cell_hash=cell_hash(config),
        hardware=hardware_label(hw) if hw else "unknown", label=claim.get("label"),
        config_sha256=results.provenance.config_sha256 or "",
    )


def load_runs(paths: Iterable[str | Path], warn: Any = None) -> list[Run]:
    """Every usable run under ``paths``; each unusable one is skipped with one warning line
    (``warn(text)``), so one unfinished or foreign directory does not stop a comparison."""
    runs = []
    for path in expand_run_dirs(paths):
        try:
            runs.append(load_run(path))
        except ReproError as e:
            if warn is None:
                raise
            warn(f"skipped: {e}")
    if not runs:
        raise ReproError(f"no usable run under {', '.join(map(str, paths))}")
    return runs


def expand_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Each path is a run directory, or a directory whose subdirectories (any depth) are runs."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise ReproError(f"{p} is not a directory")
        if (p / "results.json").is_file() or (p / "metrics.jsonl").is_file():
            out.append(p)
            continue
        found = sorted({f.parent for pattern in ("results.json", "metrics.jsonl") for f in p.rglob(pattern)})
        if not found:
            raise ReproError(f"{p} is not a run directory and holds none (no results.json or metrics.jsonl)")
        out += found
    return list(dict.fromkeys(out))


def write_claim(run_dir: Path, table: str, row: str, model: str, label: Optional[str] = None) -> None:
    claim = {"table": table, "row": row, "model": model}
    atomic_write_json(run_dir / CLAIM_FILE, claim | {"label": label} if label else claim)


# -- aggregation -----------------------------------------------------------------------------------


def mean_std(values: list[float]) -> Value:
    """Mean and sample standard deviation (n - 1) over seeds; std None for one seed."""
    return Value(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


@dataclass
class Cell:
    """The seeds of one (paper block, row, model, env) config."""

    runs: list[Run]

    def value(self, column: Column) -> Optional[Value]:
        values = [r.metrics[column.metric] * column.scale for r in self.runs if column.metric in r.metrics]
        if len(values) != len(self.runs) or not values:
            return None
        return mean_std(values)

    def provenance(self) -> dict[str, Any]:
        r0 = self.runs[0]
        steps = sorted({r.steps for r in self.runs})  # differs between seeds only for unfinished runs
        return {
            "env": r0.env, "model": r0.model, "steps": "/".join(map(str, steps)),
            "seeds": sorted(r.seed for r in self.runs), "episodes": r0.episodes,
            "hardware": ", ".join(sorted({r.hardware for r in self.runs})),
            "wall_s": sum(r.wall_s for r in self.runs),
            "commits": sorted({r.commit for r in self.runs}), "config_hash": r0.cell_hash,
            "config_sha256": [r.config_sha256 for r in sorted(self.runs, key=lambda r: r.seed)],
            "runs": [str(r.path) for r in self.runs],
        }


def group_cells(runs: list[Run], block_of: dict[Path, str]) -> dict[tuple[str, str, str, str], Cell]:
    """(block, row, model, env) -> Cell; one config per key, one run per seed."""
    cells: dict[tuple[str, str, str, str], Cell] = {}
    for run in runs:
        key = (block_of[run.path], run.row, run.model, run.env)
        cell = cells.setdefault(key, Cell([]))
        other = cell.runs[0] if cell.runs else None
        if other is not None and other.cell_hash != run.cell_hash:
            raise ReproError(f"runs {other.path} and {run.path} both give {run.row} on {run.env} with {run.model} but "
                             f"with different configs; compare them separately")
        if other is not None and any(r.seed == run.seed for r in cell.runs):
            raise ReproError(f"runs {other.path} and {run.path} are the same seed ({run.seed}) of one config")
        cell.runs.append(run)
    return cells


def paper_block_for(run: Run, table: PaperTable) -> str:
    """The claim's block, else the block named like the run's model, else the paper's smallest model."""
    if run.paper_model:
        if run.paper_model not in table.blocks:
            raise ReproError(f"{run.path}: claimed model '{run.paper_model}' is not in {table.name} "
                             f"({', '.join(table.blocks)})")
        return run.paper_model
    name = Path(run.model).name.lower()
    for block in table.blocks:
        if block.lower() == name:
            return block
    return next(iter(table.blocks))


def default_table(runs: list[Run]) -> str:
    if any(r.env not in paper_envs() for r in runs):
        return OURS_ONLY
    return "sgrpo-table1" if any("accuracy" in r.metrics or "mean_tokens" in r.metrics for r in runs) else "gigpo-table1"


def ours_only_table(runs: list[Run]) -> PaperTable:
    """A table without paper rows: one column per (env, headline metric) some run on the env reports."""
    envs = sorted({r.env for r in runs})
    columns = tuple(Column(f"{env}_{h.metric}", f"{env} {h.label}", env, h.metric, h.scale)
                    for env in envs for h in HEADLINE_METRICS
                    if any(h.metric in r.metrics for r in runs if r.env == env))
    return PaperTable(OURS_ONLY_NAME, f"Our runs without a paper table: {', '.join(envs)}", "", "",
                      columns, {OURS_BLOCK: ()})


def build_comparison(runs: list[Run], table_name: str, command: str = "", paper_model: Optional[str] = None) -> Comparison:
    """Our runs in the layout of a paper table (``OURS_ONLY``: a table of our runs alone), each among
    the rows of its paper block (``paper_model`` puts every run in that block)."""
    table = ours_only_table(runs) if table_name == OURS_ONLY else load_paper_table(table_name)
    for run in runs:
        if run.env not in table.envs:
            raise ReproError(f"run {run.path} is on '{run.env}', which has no column in {table_name} "
                             f"({', '.join(sorted(table.envs))}); --paper {OURS_ONLY} tabulates our runs alone")
    if paper_model is not None and paper_model not in table.blocks:
        raise ReproError(f"--paper-model '{paper_model}' is not a block of {table.name}"
                         f"{did_you_mean(paper_model, list(table.blocks))}; choose from {', '.join(table.blocks)}")
    block_of = {r.path: OURS_BLOCK if table_name == OURS_ONLY else paper_model or paper_block_for(r, table)
                for r in runs}
    cells = group_cells(runs, block_of)
    rows: list[ComparisonRow] = []
    for block, paper_rows in table.blocks.items():
        ours_here = {k: c for k, c in cells.items() if k[0] == block}
        if not ours_here:
            continue
        models = sorted({k[2] for k in ours_here})
        paper_by_id = {r.id: r for r in paper_rows}
        row_ids = [r.id for r in paper_rows] + sorted({k[1] for k in ours_here} - set(paper_by_id))
        for row_id in row_ids:
            paper_row = paper_by_id.get(row_id)
            paper = dict(paper_row.cells) if paper_row else {}
            our_label = next((c.runs[0].label for k, c in ours_here.items() if k[1] == row_id and c.runs[0].label), None)
            label = paper_row.label if paper_row else our_label or row_label(row_id)
            ran = [m for m in models if any(k[1] == row_id and k[2] == m for k in ours_here)]
            for model in ran or [""]:
                mine = [c for k, c in ours_here.items() if k[1] == row_id and k[2] == model]
                ours = {}
                for column in table.columns:
                    if column.env:
                        ours[column.id] = next((v for c in mine if c.runs[0].env == column.env
                                                for v in [c.value(column)] if v is not None), None)
                for column in table.columns:
                    if column.overall_of:  # plain mean of the benchmarks (docs/sgrpo.md §3.3), only when all ran
                        parts = [ours.get(i) for i in column.overall_of]
                        ours[column.id] = (Value(statistics.fmean(p.mean for p in parts))
                                           if all(p is not None for p in parts) else None)
                rows.append(ComparisonRow(block, row_id, label, model, ours, paper,
                                          [c.provenance() for c in mine]))
    # every column of an env we ran (a missing ALFWorld task type shows as "–"), every part of an overall
    # column one of whose parts we ran (a benchmark missing from a suite shows as "–"), and overall
    # columns with a value
    ran_envs = {r.env for r in runs}
    by_id = {c.id: c for c in table.columns}
    suite_parts = {part for c in table.columns if any(by_id[p].env in ran_envs for p in c.overall_of)
                   for part in c.overall_of}
    columns = tuple(c for c in table.columns if c.env in ran_envs or c.id in suite_parts
                    or (c.overall_of and any(r.ours.get(c.id) is not None for r in rows)))
    return Comparison(table, columns, rows, command)
