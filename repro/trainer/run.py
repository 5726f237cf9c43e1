"""``repro train``'s top: the run directory (prepared, locked, resumed), the recipe a config
chooses, and the run's results.json. Recipes sit below it side by side (:mod:`repro.trainer.loop`'s
agent trainer, :mod:`repro.trainer.critic`, :mod:`repro.trainer.sgrpo`); none of them imports this.

Resume (:mod:`repro.trainer.loop`'s reproducibility note): the last intact checkpoint is loaded and
metrics lines written after it are dropped, so none is duplicated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import torch

from repro.config import config_to_yaml
from repro.errors import ReproError
from repro.io import atomic_write_jsonl, read_jsonl, read_jsonl_prefix
from repro.progress import log_line
from repro.results.run_dir import RunDir, run_lock
from repro.results.schema import EPISODES, RESPONSES, Metric, Results, model_info
from repro.trainer import metrics as M
from repro.trainer.checkpoint import latest_checkpoint, resume_checkpoint
from repro.trainer.config import TrainConfig
from repro.trainer.critic import PPOTrainer
from repro.trainer.distributed import init_distributed
from repro.trainer.loop import CHECKPOINTS, ITERATION_DIRS, METRICS, MODEL, Trainer, run_name
from repro.trainer.sgrpo import MathTrainer
from repro.workers import refuse_in_reimported_main

# config keys that may change when a run is resumed (they do not change what an iteration computes)
RESUMABLE_KEYS = {"iterations", "save_every", "eval_every", "keep_checkpoints", "report_to", "run_name",
                  "results_dir", "data_dir", "rollout.num_workers", "rollout.reset_timeout_s",
                  "rollout.step_timeout_s", "dump_rows"}


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): node}


def config_differences(saved_yaml: str, cfg: TrainConfig) -> list[str]:
    """Keys whose value differs between a run directory's config.yaml and ``cfg`` (resumable keys excluded)."""
    import yaml

    old, new = _flat(yaml.safe_load(saved_yaml)), _flat(yaml.safe_load(config_to_yaml(cfg)))
    return sorted(k for k in old.keys() | new.keys() if k not in RESUMABLE_KEYS and old.get(k) != new.get(k))


def prepare_run_dir(cfg: TrainConfig, fresh: bool, log: Any = None) -> tuple[RunDir, Path | None]:
    """The run directory (config.yaml written) and the intact checkpoint to resume from, if any."""
    path = Path(cfg.results_dir) / run_name(cfg)
    if fresh:
        for directory in (CHECKPOINTS, MODEL, *ITERATION_DIRS):
            shutil.rmtree(path / directory, ignore_errors=True)
        for name in (METRICS, "results.json", "samples.jsonl"):
            (path / name).unlink(missing_ok=True)
    checkpoint = resume_checkpoint(path / CHECKPOINTS, log)
    if checkpoint is not None and (path / "config.yaml").is_file():
        diff = config_differences((path / "config.yaml").read_text(), cfg)
        if diff:
            raise ReproError(f"run directory {path} holds a run with a different config ({', '.join(diff[:5])}); "
                             f"pass --fresh to start over or --run-name for a new run")
    return RunDir.create(cfg.results_dir, run_name(cfg), cfg), checkpoint


def truncate_metrics(path: Path, last_iteration: int, log: Any = None) -> None:
    """Drop metrics lines and per-iteration files of iterations after the checkpoint (they will be
    redone), and a partial last line (a crash inside an append; ``log`` says so). The lines kept
    must be iterations 1..``last_iteration``, the checkpoint's history."""
    if path.is_file():
        lines, partial = read_jsonl_prefix(path)
        if partial is not None and log is not None:
            log(f"dropping the partial last line of {path} ({len(partial)} characters; a crash cut it short)")
        kept = [r for r in lines if r.get("iteration", 0) <= last_iteration]
        if [r.get("iteration") for r in kept] != list(range(1, last_iteration + 1)) and last_iteration:
            raise ReproError(f"{path} does not hold iterations 1-{last_iteration} of the checkpoint it resumes "
                             f"(it has {[r.get('iteration') for r in kept][-5:]} last); pass --fresh to start over")
        atomic_write_jsonl(path, kept)
    for directory in ITERATION_DIRS:
        for file in (path.parent / directory).glob("iter_*.jsonl"):
            if int(file.stem.removeprefix("iter_")) > last_iteration:
                file.unlink()


def training_results(cfg: TrainConfig, lines: list[dict[str, Any]], run_path: Path, world: int,
                     model_dir: Any) -> Any:
    """results.json of a training run: the metrics of its last validation (what the papers report)
    with their standard errors, the last iteration's training metrics in ``details``."""
    validated = [line for line in lines if "val_split" in line]
    point = validated[-1] if validated else {}
    stderr = point.get("val_stderr", {})
    unit = RESPONSES if cfg.math is not None else EPISODES
    counts = (unit, "failed_episodes")
    metrics = {k[4:]: Metric(float(v), stderr.get(k[4:])) for k, v in point.items()
               if k.startswith("val_") and k[4:] not in counts and isinstance(v, (int, float)) and not isinstance(v, bool)}
    final = latest_checkpoint(run_path / CHECKPOINTS)
    exported = model_info(str(run_path / MODEL), run_path / MODEL, "hf") if cfg.export_model else None
    return Results(
        kind="train", env=cfg.env.name, algo=cfg.algo, split=point.get("val_split"), metrics=metrics,
        model=model_info(cfg.model.path, model_dir, cfg.model.backend),
        sampling=dataclasses.asdict(cfg.validation.sampling),
        seeds={"seed": cfg.seed, "derivation": "each iteration's tasks, rollout sampling, row shuffle and "
               "validation sampling: SeedSequence([seed, iteration, purpose]) (per rank: + rank)"},
        counts={unit: int(point.get(f"val_{unit}", 0)), "failed_episodes": int(point.get("val_failed_episodes", 0)),
                "iterations": len(lines), "tasks_per_iteration": cfg.tasks_per_iteration,
                "group_size": cfg.group_size, "world_size": world},
        unit=unit,
        details={"iterations_done": lines[-1]["iteration"] if lines else 0, "iterations": cfg.iterations,
                 "validation_iteration": point.get("iteration"),
                 "rollout_sampling": dataclasses.asdict(cfg.sampling),
                 "last_iteration": M.without_timing(lines[-1]) if lines else {},
                 "checkpoint": str(final) if final else None,
                 "exported_model": dataclasses.asdict(exported) if exported else None},
    )


def recipe(cfg: TrainConfig) -> type[Trainer]:
    """The trainer class ``cfg`` runs, chosen by its sections: the math recipe for math envs, critic
    PPO with a critic (``algo=ppo``), else the agent trainer (its estimator chosen by ``algo``)."""
    if cfg.math is not None:
        return MathTrainer
    if cfg.critic is not None:
        return PPOTrainer
    return Trainer


def run_train(cfg: TrainConfig, fresh: bool = False) -> Path:
    """Train (or resume) the run ``cfg`` describes; returns the run directory. Under torchrun every
    rank calls this; rank 0 prepares the run directory and writes the results."""
    refuse_in_reimported_main("run_train()")  # an unguarded script's workers would wipe the run directory
    dist = init_distributed(cfg.model.device)
    lock = run_lock(Path(cfg.results_dir) / run_name(cfg), log_line) if dist.is_main else contextlib.nullcontext()
    with lock:  # rank 0 holds it for the whole run, before anything in the directory is read or written
        return _run_train(cfg, dist, fresh)


def _run_train(cfg: TrainConfig, dist: Any, fresh: bool) -> Path:
    if cfg.tasks_per_iteration % dist.world:
        raise ReproError(f"tasks_per_iteration={cfg.tasks_per_iteration} does not split into whole task groups "
                         f"over {dist.world} ranks; make it a multiple of the world size")
    if dist.is_main:
        run_dir, checkpoint = prepare_run_dir(cfg, fresh, log_line)
    dist.barrier()
    if not dist.is_main:
        run_dir = RunDir(Path(cfg.results_dir) / run_name(cfg))
        checkpoint = resume_checkpoint(run_dir.path / CHECKPOINTS)
    trainer = recipe(cfg)(cfg, run_dir)
    start = trainer.resume(checkpoint)
    if dist.is_main:
        truncate_metrics(run_dir.path / METRICS, start, log_line)
    trainer.run(start)
    if cfg.export_model:
        trainer.export_model(run_dir.path / MODEL)
    if dist.is_main:
        run_dir.write_results(training_results(cfg, read_jsonl(run_dir.path / METRICS), run_dir.path, dist.world,
                                               getattr(trainer.policy, "model_dir", None)))
    if dist.enabled:
        torch.distributed.destroy_process_group()
    return run_dir.path
