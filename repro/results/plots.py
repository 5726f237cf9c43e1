"""Training curves (mean ± std band over seeds) and GiGPO's step-group size distribution over
training (the paper's §5.5 figure), from the metrics.jsonl of training runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from repro.io import atomic_write_png, read_jsonl
from repro.results.compare import HEADLINE_METRICS, Headline, Run
from repro.results.step_groups import SIZE_BUCKETS, bucket_fractions
from repro.results.tables import row_label


# math training lines (S-GRPO and its baselines): the full response is what the eval's metric
# measures; their rows also hold the forced exits, so tokens per row would mix the two
MATH_TRAINING_METRICS = {"accuracy": "full_accuracy", "mean_tokens": "full_tokens_mean"}


def curve_value(line: dict[str, Any], metric: str) -> float | None:
    """A metric of one training iteration; mean_tokens of agent runs = tokens per generated turn."""
    if MATH_TRAINING_METRICS.get(metric) in line:
        metric = MATH_TRAINING_METRICS[metric]
    elif metric == "mean_tokens" and "mean_tokens" not in line and line.get("rows"):
        return line["response_tokens"] / line["rows"]
    value = line.get(metric)
    return float(value["value"] if isinstance(value, dict) else value) if value is not None else None


def validation_value(line: dict[str, Any], metric: str) -> float | None:
    """The validation value of a metric in one metrics line (``val_<metric>``), if it validated."""
    value = line.get(f"val_{metric}")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def seed_band(series: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(iterations, mean, std) over seeds at the iterations every seed has reached."""
    common = sorted(set.intersection(*(set(s) for s in series)))
    values = np.array([[s[i] for i in common] for s in series], dtype=float)
    std = values.std(axis=0, ddof=1) if len(series) > 1 else np.zeros(len(common))
    return np.array(common), values.mean(axis=0), std


def clipped_band(mean: np.ndarray, std: np.ndarray, headline: Headline) -> tuple[np.ndarray, np.ndarray]:
    """mean ± std kept inside the metric's valid range (a rate's band must not leave [0, 1])."""
    return np.clip(mean - std, 0.0, headline.upper), np.clip(mean + std, 0.0, headline.upper)


def training_groups(runs: list[Run]) -> dict[str, list[Run]]:
    """Short legend label -> the seeds of one training config: "row · env", the model's last path
    component only when the runs use more than one model, the config hash only where two configs
    would otherwise share a label."""
    configs: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        if run.kind == "train":
            configs.setdefault((run.row, run.env, run.model, run.cell_hash), []).append(run)
    several_models = len({model for _, _, model, _ in configs}) > 1
    labels = {key: f"{row_label(key[0])} · {key[1]}" + (f" · {Path(key[2]).name}" if several_models else "")
              for key in configs}
    shared = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    return {(f"{label} [{key[3][:6]}]" if label in shared else label): configs[key] for key, label in labels.items()}


def _figure(n_panels: int, width: float = 5.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, 4.2), squeeze=False)
    return fig, axes[0]


def _close(fig: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


@dataclass(frozen=True)
class Curve:
    """One training config on one panel: the training rollouts' mean ± std band over seeds and, at the
    iterations every seed validated, the validation points (mean ± std; what the tables report)."""

    label: str
    seeds: int
    train: tuple[np.ndarray, np.ndarray, np.ndarray]  # (iterations, mean, std)
    validation: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]]


def training_curves(runs: list[Run]) -> list[tuple[Headline, list[Curve]]]:
    """(panel metric, its curves) for every headline metric some training run logged."""
    groups = training_groups(runs)
    lines = {r.path: read_jsonl(r.path / "metrics.jsonl") for g in groups.values() for r in g}
    panels = []
    for headline in HEADLINE_METRICS:
        curves = []
        for name, group in sorted(groups.items()):
            series = [{line["iteration"]: v for line in lines[r.path]
                       if (v := curve_value(line, headline.metric)) is not None} for r in group]
            if not all(series):
                continue
            validated = [{line["iteration"]: v for line in lines[r.path]
                          if (v := validation_value(line, headline.metric)) is not None} for r in group]
            curves.append(Curve(name, len(group), seed_band(series), seed_band(validated) if all(validated) else None))
        if curves:
            panels.append((headline, curves))
    return panels


def plot_training_curves(runs: list[Run], out: Path) -> Path | None:
    """One panel per metric, one line per config (the band is ± one std over its seeds), validation
    as dots with ± std bars."""
    panels = training_curves(runs)
    if not panels:
        return None
    fig, axes = _figure(len(panels))
    for ax, (headline, curves) in zip(axes, panels):
        for curve in curves:
            x, mean, std = curve.train
            (handle,) = ax.plot(x, mean, label=f"{curve.label} (n={curve.seeds} seeds)")
            ax.fill_between(x, *clipped_band(mean, std, headline), alpha=0.2, color=handle.get_color())
            if curve.validation is not None:
                vx, vmean, vstd = curve.validation
                low, high = clipped_band(vmean, vstd, headline)
                ax.errorbar(vx, vmean, yerr=[vmean - low, high - vmean], fmt="o", ms=5, capsize=3,
                            color=handle.get_color(), label=f"{curve.label}: validation")
        ax.set_xlabel("training iteration")
        ax.set_ylabel(headline.axis_label)
        if headline.upper is not None:  # a bounded score's axis starts at its floor, not below it
            ax.set_ylim(bottom=0.0)
        ax.set_title(f"{headline.axis_label} (line: training rollouts, dots: validation)", fontsize=10)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle("training curves: mean ± std over seeds (line and band: training rollouts; dots: validation)",
                 fontsize=11)
    fig.tight_layout()
    # below the panels; bbox_inches="tight" grows the image to hold it, so no entry is clipped
    fig.legend(handles, labels, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(3, len(labels)), frameon=False)
    atomic_write_png(out, fig, dpi=110, bbox_inches="tight")
    _close(fig)
    return out


def plot_step_group_sizes(runs: list[Run], out: Path) -> Path | None:
    """Stacked share of step groups per size bucket by iteration (mean over seeds), per GiGPO config."""
    groups = {name: g for name, g in training_groups(runs).items() if g[0].row.startswith("gigpo")}
    data = {}
    for name, group in sorted(groups.items()):
        series = [{line["iteration"]: bucket_fractions(line["step_group_size_counts"])
                   for line in read_jsonl(r.path / "metrics.jsonl") if line.get("step_group_size_counts")} for r in group]
        if all(series):
            common = sorted(set.intersection(*(set(s) for s in series)))
            data[name] = (np.array(common), np.mean([[s[i] for i in common] for s in series], axis=0), len(group))
    if not data:
        return None
    fig, axes = _figure(len(data), width=6.0)
    for ax, (name, (x, fractions, n)) in zip(axes, data.items()):
        ax.stackplot(x, fractions.T, labels=[label for _, _, label in SIZE_BUCKETS], alpha=0.85)
        ax.set_xlabel("training iteration")
        ax.set_ylabel("share of step groups")
        ax.set_ylim(0, 1)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"{name} (mean of {n} seeds)", fontsize=9)
    # beside the last panel, not over the stacked areas; reversed so it reads in the stack's order
    handles, labels = axes[-1].get_legend_handles_labels()
    axes[-1].legend(handles[::-1], labels[::-1], title="step-group size", fontsize=8, loc="upper left",
                    bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("GiGPO anchor-state (step) group sizes over training (paper §5.5)", fontsize=11)
    fig.tight_layout()
    atomic_write_png(out, fig, dpi=110, bbox_inches="tight")
    _close(fig)
    return out


def write_plots(runs: list[Run], directory: Path, prefix: str = "") -> list[Path]:
    written = [plot_training_curves(runs, directory / f"{prefix}training_curves.png"),
               plot_step_group_sizes(runs, directory / f"{prefix}step_group_sizes.png")]
    return [p for p in written if p is not None]
