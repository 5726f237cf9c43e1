"""The statistics section of a mechanism study's table (issue 15): per row, mean and 95 % Student-t
confidence interval over seeds of each reported metric; per prediction fixed before the runs
(``benchmarks/tables/_studies.yaml``), Welch's t-test of the difference between two rows.

A prediction reads "``a`` has a lower (``direction: less``) or higher (``greater``) mean ``metric``
than ``b``"; it held when Welch's one-sided p is below ``alpha``. The interval shown is the
two-sided 95 % Welch interval of mean(a) - mean(b). With ``minus: [c, d]`` it reads "the gap a - b
is smaller / larger than the gap c - d" (e.g. GiGPO - GRPO at a long horizon vs at a short one), tested
as the contrast (mean(a) - mean(b)) - (mean(c) - mean(d)) with Welch-Satterthwaite degrees of freedom.

Two optional fields state a threshold instead of a plain difference: ``b_scale`` k compares a with
k·b ("S-GRPO writes at least 30 % fewer tokens than GRPO": a < 0.7·b), and ``margin`` m compares the
difference with m instead of 0 (non-inferiority, "accuracy within 2 points of GRPO": a − b > −2).
The test is then Welch's on a − m against k·b (k·b has k²·var(b)), and the interval is that of
mean(a) − k·mean(b).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import yaml

from repro.errors import ReproError
from repro.results.stats import Interval, mean_ci, welch_contrast
from repro.results.step_groups import SINGLETON_ROW_SHARE

STUDIES_FILE = "_studies.yaml"  # beside the row files: per table, its metrics and predictions (not a row)
DIRECTIONS = ("less", "greater")
METRIC_UNITS = {"success_rate": ("success (%)", 100.0), "mean_steps": ("mean steps", 1.0),
                "accuracy": ("accuracy (%)", 100.0), "mean_tokens": ("mean tokens", 1.0),
                SINGLETON_ROW_SHARE: ("steps in singleton step groups (%)", 100.0)}


@dataclass(frozen=True)
class Prediction:
    id: str
    claim: str
    metric: str
    a: str  # row id
    b: str  # row id
    direction: str  # less | greater: the predicted side of the contrast (below) against margin
    alpha: float = 0.05
    b_scale: float = 1.0  # k: compare a with k·b (a ratio threshold)
    margin: float = 0.0  # m, in the table's unit: compare a − k·b with m (non-inferiority)
    minus: Optional[tuple[str, str]] = None  # (c, d): test (mean(a) - k·mean(b)) - (mean(c) - mean(d))

    def samples(self, values: dict[str, list[float]]) -> tuple[list[list[float]], list[float]]:
        """The rows' values (a's less the margin) and the contrast's weights."""
        rows, weights = [self.a, self.b], [1.0, -self.b_scale]
        if self.minus:
            rows, weights = rows + list(self.minus), weights + [-1.0, 1.0]
        samples = [values.get(r, []) for r in rows]
        return [[x - self.margin for x in samples[0]]] + samples[1:], weights

    def test_text(self) -> str:
        """The inequality the prediction claims, e.g. "sgrpo < 0.7 × grpo" or "sgrpo − grpo > −2"."""
        b = self.b if self.b_scale == 1 else f"{self.b_scale:g} × {self.b}"
        sign = "<" if self.direction == "less" else ">"
        return f"{self.a} {sign} {b}" if self.margin == 0 else f"{self.a} − {b} {sign} {self.margin:g}"


@dataclass(frozen=True)
class Study:
    table: str
    metrics: tuple[str, ...]
    predictions: tuple[Prediction, ...]


def _check_metric(metric: str, where: str) -> None:
    if metric not in METRIC_UNITS:
        raise ReproError(f"{where}: metric '{metric}' is not one of {', '.join(METRIC_UNITS)}")


def load_studies(rows_dir: Path) -> dict[str, Study]:
    path = rows_dir / STUDIES_FILE
    if not path.is_file():
        return {}
    out = {}
    for table, spec in (yaml.safe_load(path.read_text()) or {}).items():
        metrics = tuple(spec.get("metrics", ()))
        for m in metrics:
            _check_metric(m, f"{path.name}: {table}")
        predictions = []
        for p in spec.get("predictions", ()):
            where = f"{path.name}: {table} prediction {p.get('id', '?')}"
            try:
                prediction = Prediction(**p)
            except TypeError as e:
                raise ReproError(f"{where}: {e}") from None
            if prediction.minus is not None:
                if len(prediction.minus) != 2:
                    raise ReproError(f"{where}: minus must name two rows [c, d], got {prediction.minus}")
                prediction = replace(prediction, minus=tuple(prediction.minus))
            _check_metric(prediction.metric, where)
            if prediction.direction not in DIRECTIONS:
                raise ReproError(f"{where}: direction must be one of {', '.join(DIRECTIONS)}")
            if prediction.b_scale <= 0:
                raise ReproError(f"{where}: b_scale must be > 0, got {prediction.b_scale}")
            predictions.append(prediction)
        out[table] = Study(table, metrics, tuple(predictions))
    return out


def row_values(runs: list[Any], metric: str) -> dict[str, list[float]]:
    """Row id -> the metric of each of its runs (seeds), in the table's unit."""
    scale = METRIC_UNITS[metric][1]
    out: dict[str, list[float]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        if metric in run.metrics:
            out.setdefault(run.row, []).append(run.metrics[metric] * scale)
    return out


def _ci_text(values: list[float]) -> str:
    ci = mean_ci(values)
    return f"{ci.estimate:.2f} [{ci.low:.2f}, {ci.high:.2f}] (n={ci.n})" if ci.n > 1 else f"{ci.estimate:.2f} (n=1)"


def prediction_cells(p: Prediction, values: dict[str, list[float]]) -> list[str]:
    head = [p.id, p.claim if p.b_scale == 1 and p.margin == 0 else f"{p.claim} ({p.test_text()})"]
    try:
        w = welch_contrast(*p.samples(values))
    except ValueError as e:
        return head + ["–", "–", "–", f"not testable ({e})"]
    p_one = w.p_greater if p.direction == "greater" else 1.0 - w.p_greater
    d = w.difference  # of mean(a) − m − k·mean(b): shown as mean(a) − k·mean(b)
    d = Interval(d.estimate + p.margin, d.low + p.margin, d.high + p.margin, d.n)
    held = "held" if p_one < p.alpha else "not held"
    return head + [f"{d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}]", f"{w.t:+.2f} ({w.df:.1f})",
                   f"{p_one:.3g}", f"{held} (α = {p.alpha})"]


def study_markdown(study: Study, runs: list[Any], labels: Optional[dict[str, str]] = None) -> str:
    """The table's statistics section: per-row 95 % CIs, then one line per prediction."""
    labels = labels or {}
    per_metric = {m: row_values(runs, m) for m in study.metrics}
    rows = list(dict.fromkeys(r.row for r in runs))
    header = ["method"] + [f"{METRIC_UNITS[m][0]}: mean [95% CI]" for m in study.metrics]
    lines = ["## Statistics", "",
             "Mean over seeds with its 95 % Student-t confidence interval; each prediction was fixed before the "
             "runs and is tested with Welch's t-test (one-sided p in the predicted direction; the interval is "
             "the two-sided 95 % Welch interval of the difference).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [labels.get(row, row)] + [_ci_text(per_metric[m][row]) if row in per_metric[m] else "–"
                                          for m in study.metrics]
        lines.append("| " + " | ".join(cells) + " |")
    if study.predictions:
        difference = ("a − k·b" if any(p.b_scale != 1 for p in study.predictions) else "a − b") + (
            ", or (a − b) − (c − d)" if any(p.minus for p in study.predictions) else "")
        header = ["id", "prediction", f"{difference}: mean [95% CI]", "Welch t (df)", "one-sided p", "result"]
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for p in study.predictions:
            cells = prediction_cells(p, per_metric.get(p.metric) or row_values(runs, p.metric))
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
