"""The early-exit curves of a table (``repro eval --exit-curve`` runs a row file names, e.g. the S-GRPO
early-exit study's warm start and one trained S-GRPO model): a markdown section with each curve's
points and one plot with every curve, beside the table; the same plot draws one run's curve. Read from each run's ``exit_curve.json``
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


def point_labels(fractions: list[float], xs: list[float], ys: list[float], x_span: float, y_span: float,
                 closeness: float = 0.04) -> list[tuple[str, float, float]]:
    """(label, x, y) per run of consecutive points that lie within ``closeness`` of the axes' spans of
    each other: one "10%–40%" label there instead of four drawn on top of each other."""
    labels: list[tuple[str, float, float]] = []
    run = [0] if xs else []
    for i in range(1, len(xs) + 1):
        near = i < len(xs) and abs(xs[i] - xs[run[0]]) <= closeness * (x_span or 1) \
            and abs(ys[i] - ys[run[0]]) <= closeness * (y_span or 1)
        if near:
            run.append(i)
            continue
        first, last = run[0], run[-1]
        text = f"{fractions[first]:.0%}" + (f"–{fractions[last]:.0%}" if last != first else "")
        labels.append((text, xs[first], ys[first]))
        run = [i]
    return labels


def plot_curves(curves: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Accuracy against mean tokens per forced exit, one line per curve, its full response as a star;
    a single curve also labels its points with their fractions of the thought."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, (label, curve) in enumerate(curves.items()):
        points = [p for p in curve["points"] if p["accuracy"] is not None]
        xs, ys = [p["mean_tokens"] for p in points], [100 * p["accuracy"] for p in points]
        color = f"C{k}"
        ax.plot(xs, ys, marker="o", color=color, label=f"{label}: forced exits at 10 %…100 % of the thought")
        if len(curves) == 1:
            x_span = (max(xs) - min(xs)) if xs else 0.0
            for text, x, y in point_labels([p["fraction"] for p in points], xs, ys, x_span, 100.0):
                ax.annotate(text, (x, y), textcoords="offset points", xytext=(3, 4), fontsize=7)
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
