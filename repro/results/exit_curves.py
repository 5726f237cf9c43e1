"""The early-exit curves of a table (``repro eval --exit-curve`` runs a row file names, e.g. the S-GRPO
early-exit study's warm start and one trained S-GRPO model): a markdown section with each curve's
points and one plot with every curve, beside the table. Read from each run's ``exit_curve.json``
(written by :mod:`repro.eval.exit_curve`); nothing here runs a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repro.errors import ReproError
from repro.io import atomic_write_png

CURVE_FILE = "exit_curve.json"


def read_curve(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CURVE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReproError(f"cannot read the exit curve {path}: {e}") from None


def curves_markdown(curves: dict[str, dict[str, Any]]) -> str:
    """One table per curve (label -> exit_curve.json): accuracy and mean tokens at each forced exit
    (prefix + inducer + answer), and the full response as decoded."""
    lines = ["## Early-exit curves", "",
             "Forced exits at fixed fractions of each sampled thought (`repro eval --exit-curve`: the thought's "
             "prefix, S-GRPO's answer inducer, the model's own answer), beside the full response as decoded.", ""]
    for label, curve in curves.items():
        full = curve["full"]
        lines += [f"**{label}** ({curve['responses']} responses, {curve['split']} split)", "",
                  "| exit at | accuracy (%) | mean tokens | thinking tokens kept |", "|---|---|---|---|"]
        for p in curve["points"]:
            if p["accuracy"] is not None:
                lines.append(f"| {p['fraction']:.0%} | {100 * p['accuracy']:.1f} | {p['mean_tokens']:.1f} | "
                             f"{p['mean_thinking_kept']:.1f} |")
        lines += [f"| full response | {100 * full['accuracy']:.1f} | {full['mean_tokens']:.1f} | – |", ""]
    return "\n".join(lines)


def plot_curves(curves: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Accuracy against mean tokens per forced exit, one line per curve, its full response as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, (label, curve) in enumerate(curves.items()):
        points = [p for p in curve["points"] if p["accuracy"] is not None]
        color = f"C{k}"
        ax.plot([p["mean_tokens"] for p in points], [100 * p["accuracy"] for p in points], marker="o",
                color=color, label=f"{label}: forced exits at 10 %…100 % of the thought")
        full = curve["full"]
        ax.scatter([full["mean_tokens"]], [100 * full["accuracy"]], marker="*", s=140, color=color, zorder=3,
                   label=f"{label}: full response")
    ax.set_xlabel("mean tokens per response (thinking prefix + inducer + answer)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write_png(path, fig, dpi=120)
    plt.close(fig)
    return path
