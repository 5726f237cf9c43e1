"""``repro eval --env ENV --exit-curve``: how much of a thought the answer needs.

For every sampled full response, force exits at fixed fractions of its thought (10 %, 20 %, …,
100 % of the thinking tokens: prefix + the S-GRPO answer inducer + the policy's continuation, as
in training, :mod:`repro.rollout.serial`) and check each answer. The curve of accuracy against
mean tokens per exit (prefix + inducer + answer) is the evidence behind the paper's claim that
thoughts carry redundancy (docs/sgrpo.md §1, Fig. 1). The normally decoded full response is the
reference point. Writes exit_curve.json and exit_curve.png in the run directory.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from repro.console import make_console
from repro.eval.config import ExitCurveConfig
from repro.io import atomic_write_json, atomic_write_png
from repro.progress import Counter
from repro.results.schema import RESPONSES, Metric, Results


def curve_points(groups: list[Any], fractions: list[float]) -> dict[str, Any]:
    """Accuracy and mean tokens per fraction over the responses that have a thought, plus the full
    responses as decoded (a thought that never closed counts as wrong)."""
    import numpy as np

    with_thought = [g for g in groups if g.exits]
    points = []
    for k, fraction in enumerate(fractions):
        members = [g.exits[k] for g in with_thought]
        points.append({
            "fraction": fraction,
            "accuracy": float(np.mean([m.correct for m in members])) if members else None,
            "mean_tokens": float(np.mean([len(m.response_ids) for m in members])) if members else None,
            "mean_thinking_kept": float(np.mean([m.exit_position for m in members])) if members else None,
        })
    return {
        "points": points,
        "full": {"accuracy": float(np.mean([g.full.correct for g in groups])),
                 "mean_tokens": float(np.mean([len(g.full.response_ids) for g in groups])),
                 "thought_not_closed_rate": float(np.mean([not g.thought_closed for g in groups]))},
        "responses": len(groups),
        "responses_without_thought": len(groups) - len(with_thought),
    }


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


def plot_curve(curve: dict[str, Any], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [p for p in curve["points"] if p["accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs, ys = [p["mean_tokens"] for p in points], [100 * p["accuracy"] for p in points]
    ax.plot(xs, ys, marker="o", label="forced exit at fraction of thought")
    x_span = (max(xs) - min(xs)) if xs else 0.0
    for text, x, y in point_labels([p["fraction"] for p in points], xs, ys, x_span, 100.0):
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(3, 4), fontsize=7)
    full = curve["full"]
    ax.scatter([full["mean_tokens"]], [100 * full["accuracy"]], marker="*", s=120, color="C3",
               label="full response (normal decoding)", zorder=3)
    ax.set_xlabel("mean tokens per response (thinking prefix + inducer + answer)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write_png(path, fig, dpi=120)
    plt.close(fig)


def run_exit_curve(cfg: Any, policy: Any = None) -> Path:
    # math-verify loads when these are imported (1-2 s): only when a curve is drawn
    from repro.envs.verify import VerifierPool
    from repro.eval.math import model_provenance, prepare_math_run, sample_all
    from repro.rollout.serial import (NOT_CLOSED, SerialConfig, build_exits, check_groups, find_thoughts,
                                      fraction_exit_positions, member_json)

    curve_cfg: ExitCurveConfig = cfg.exit_curve
    console = make_console()
    start = time.perf_counter()
    task, problems, policy, run, prompt_ids = prepare_math_run(cfg, policy, "exitcurve")
    split = cfg.split or cfg.env.split

    requests = [p for p in problems for _ in range(cfg.samples)]
    prompts = [prompt_ids[p.id] for p in requests]
    full = sample_all(policy, prompts, cfg, console)
    serial_cfg = SerialConfig(exits=len(curve_cfg.fractions), answer_max_tokens=curve_cfg.answer_max_tokens)
    positions = [fraction_exit_positions(t.tokens, curve_cfg.fractions) for t in find_thoughts(policy, full)]
    console.print(f"forcing {sum(map(len, positions))} exits ({len(curve_cfg.fractions)} per response)")
    groups = build_exits(policy, requests, prompts, full, positions, cfg.sampling, serial_cfg, cfg.seed)
    n_checks = sum(m.verdict != NOT_CLOSED for g in groups for m in g.members)
    with VerifierPool(cfg.env.verify_workers or None, cfg.env.verify_timeout_s) as pool, \
            Counter("verifying", n_checks, "answers", console) as counter:
        check_groups(groups, policy, pool, on_verdict=lambda i, v: counter.advance())

    curve = curve_points(groups, curve_cfg.fractions)
    run.write_samples([member_json(g, m, policy.tokenizer) for g in groups for m in g.members])
    atomic_write_json(run.path / "exit_curve.json", {"env": cfg.env.name, "split": split, **curve})
    plot_curve(curve, f"{cfg.env.name}: forced early exits ({len(problems)} problems x {cfg.samples})",
               run.path / "exit_curve.png")
    results = run.write_results(Results(
        kind="exit_curve", env=cfg.env.name, policy=cfg.policy, split=split,
        metrics={"full_accuracy": Metric(curve["full"]["accuracy"]), "full_mean_tokens": Metric(curve["full"]["mean_tokens"])},
        model=model_provenance(policy, cfg), sampling=dataclasses.asdict(cfg.sampling),
        seeds={"seed": cfg.seed, "sampling.seed": cfg.sampling.seed},
        unit=RESPONSES, counts={"problems": len(problems), "samples_per_problem": cfg.samples, "responses": curve["responses"]},
        details={"exit_curve": curve, "exit_curve_config": dataclasses.asdict(curve_cfg),
                 "wall_time_s": round(time.perf_counter() - start, 3)},
    ))
    for p in curve["points"]:
        if p["accuracy"] is not None:
            console.print(f"exit at {p['fraction']:>4.0%}: accuracy {100 * p['accuracy']:5.1f}%  "
                          f"mean tokens {p['mean_tokens']:8.1f}")
    console.print(f"full response: accuracy {100 * curve['full']['accuracy']:.1f}%  "
                  f"mean tokens {curve['full']['mean_tokens']:.1f}")
    console.print(f"results: {results}  plot: {run.path / 'exit_curve.png'}")
    return results
