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
from repro.io import atomic_write_json
from repro.progress import Counter
from repro.results.exit_curves import plot_curves
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
    plot_curves({"this run": curve}, run.path / "exit_curve.png",
                f"{cfg.env.name}: forced early exits ({len(problems)} problems x {cfg.samples})")
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
