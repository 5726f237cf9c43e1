"""What ``repro train`` / ``eval`` / ``sft`` print before any work starts (and all ``--dry-run``
prints): what will run, on which model and device, where the results go; and, when the paper
protocol is about to run on a CPU with the tiny model, the CPU-sized config to use instead."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Optional

from repro.errors import ReproError
from repro.paths import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"


def resolved_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _model(model: Any) -> str:
    return f"{model.path} ({resolved_device(model.device)}, {model.backend} backend)"


def _sampling(s: Any) -> str:
    top_p = f", top-p {s.top_p:g}" if s.top_p < 1 else ""
    return f"≤ {s.max_new_tokens} new tokens at T {s.temperature:g}{top_p}"


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    return [f"  {k:<{width}}  {v}" for k, v in rows]


def _resume_point(run_dir: Path) -> Optional[int]:
    from repro.trainer.checkpoint import checkpoint_iteration, latest_checkpoint

    try:
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
    except ReproError:  # a damaged pointer: training says so, and which checkpoint it resumes instead
        return None
    return checkpoint_iteration(checkpoint) if checkpoint else None


def cpu_config_for(cfg: Any) -> Optional[Path]:
    """The CPU-sized benchmark config of a training run's algorithm and env, if one exists."""
    if cfg.math is not None:
        path = BENCHMARKS / "sgrpo" / "cpu" / f"{cfg.env.name}_{cfg.algo}.yaml"
        return path if path.is_file() else next(iter(sorted((BENCHMARKS / "sgrpo" / "cpu").glob(f"*_{cfg.algo}.yaml"))), None)
    algo = cfg.algo
    if algo == "gigpo":
        algo = "gigpo_std" if getattr(cfg.advantage, "mode", "") == "mean_std_norm" else "gigpo_nostd"
    path = BENCHMARKS / "gigpo" / "cpu" / f"{cfg.env.name}_{algo}.yaml"
    return path if path.is_file() else None


def paper_protocol_on_cpu(cfg: Any) -> list[str]:
    """A plain warning (lines of at most 80 columns) when the paper-sized protocol is about to run on
    a CPU with the tiny model, with the CPU-sized config to run instead; [] otherwise."""
    from repro.trainer.config import TrainConfig

    paper = (TrainConfig.iterations, TrainConfig.tasks_per_iteration, TrainConfig.group_size)
    if cfg.model.path != "tiny" or resolved_device(cfg.model.device) != "cpu" or \
            (cfg.iterations, cfg.tasks_per_iteration, cfg.group_size) != paper:
        return []
    steps = f", ≤ {cfg.env.max_steps} steps" if hasattr(cfg.env, "max_steps") else ""
    config = cpu_config_for(cfg)
    instead = (f"repro train -c {config.relative_to(REPO_ROOT)}" if config
               else f"a config from {(BENCHMARKS / 'gigpo' / 'cpu').relative_to(REPO_ROOT)}/")
    text = (f"note: this is the paper protocol ({cfg.iterations} iterations x {cfg.tasks_per_iteration} tasks x "
            f"{cfg.group_size} {'samples' if cfg.math is not None else 'trajectories'}{steps}, "
            f"{cfg.sampling.max_new_tokens} new tokens) running on a CPU with "
            f"the tiny random model: hours of work that cannot learn at this size. For a CPU-sized run:")
    return textwrap.wrap(text, 80, subsequent_indent="  ") + [f"  {instead}"]


def train_plan(cfg: Any, run_dir: Path, fresh: bool, world: int = 1) -> list[str]:
    per_iteration = f"{cfg.tasks_per_iteration} tasks x {cfg.group_size} " + (
        "samples" if cfg.math is not None else "trajectories")
    if hasattr(cfg.env, "max_steps"):
        per_iteration += f", ≤ {cfg.env.max_steps} steps each"
    resume = None if fresh else _resume_point(run_dir)
    iterations = str(cfg.iterations) + (f" (resuming after iteration {resume}: {max(cfg.iterations - resume, 0)} to go)"
                                        if resume else "")
    val = cfg.validation
    validation = (f"every {cfg.eval_every} iterations: {val.episodes} {'problems' if cfg.math is not None else 'episodes'}"
                  f" of {val.split or 'the eval split'}, {_sampling(val.sampling)}" if cfg.eval_every else "none (eval_every=0)")
    loss = cfg.loss
    rows = [
        ("iterations", iterations),
        ("per iteration", per_iteration),
        ("rollout", _sampling(cfg.sampling)),
        ("update", f"PPO-clip, mini-batches of {cfg.mini_batch_rows} rows, lr {cfg.optim.lr:g}, "
                   f"kl {loss.kl_coef:g}, entropy {loss.entropy_coef:g}"),
        ("validation", validation),
        ("model", _model(cfg.model) + (f", {world} processes" if world > 1 else "")),
        ("checkpoints", f"every {cfg.save_every} iterations, last {cfg.keep_checkpoints} kept" if cfg.save_every
         else "at the end only"),
        ("results", f"{run_dir}/"),
        ("estimate", "after the first iteration (then an overall ETA on every line)"),
    ]
    lines = [f"plan: repro train {cfg.algo} on {cfg.env.name}", *_rows(rows)]
    return lines + paper_protocol_on_cpu(cfg)


def eval_plan(cfg: Any, run_dir: Path, kind: str, exit_curve: bool = False) -> list[str]:
    split = cfg.split or ("the eval split" if kind == "agent" else cfg.env.split)
    limit = f"first {cfg.limit} of " if cfg.limit else ""
    if kind == "math":
        work = f"{limit}{split} problems x {cfg.samples} samples" + (
            f", forced exits at {len(cfg.exit_curve.fractions)} fractions of each thought" if exit_curve else "")
    else:
        steps = f", ≤ {cfg.env.max_steps} steps" if hasattr(cfg.env, "max_steps") else ""
        work = f"{limit}{split} tasks x {cfg.samples} episodes{steps}"
    rows = [("work", work)]
    if cfg.policy == "model":
        rows += [("sampling", _sampling(cfg.sampling)), ("model", _model(cfg.model))]
    else:
        rows += [("policy", f"{cfg.policy} (scripted)")]
    style = cfg.prompting
    if kind == "agent" and style.style == "react":
        rows += [("prompting", f"ReAct: a thought or an action per reply, ≤ {style.max_thoughts} thought(s) per step")]
    elif kind == "agent" and style.style == "reflexion":
        rows += [("prompting", f"Reflexion: ≤ {style.trials} ReAct trials per task, a reflection after each failed "
                               f"one, the last {style.memory} kept")]
    rows += [("results", f"{run_dir}/")]
    return [f"plan: repro eval {cfg.env.name}" + (" --exit-curve" if exit_curve else ""), *_rows(rows)]


def sft_plan(cfg: Any, run_dir: Path) -> list[str]:
    length = f"{cfg.steps} optimiser steps" if cfg.steps else f"{cfg.epochs} epoch(s)"
    from repro.trainer.sft import is_math

    demos = (f"{cfg.episodes} of the task's own responses to problems of {cfg.split or 'the train split'}"
             if is_math(cfg) else
             f"{cfg.episodes} episodes of the '{cfg.demo_policy or 'expert'}' policy on "
             f"{cfg.split or 'the train split'}" + (", successful ones kept" if cfg.successful_only else ""))
    rows = [
        ("demonstrations", demos),
        ("training", f"{length} of {cfg.batch_rows} rows, lr {cfg.lr:g}"),
        ("model", _model(cfg.model)),
        ("results", f"{run_dir}/ (the weights in model/)"),
    ]
    return [f"plan: repro sft on {cfg.env.name}", *_rows(rows)]
