"""The RL training loop for multi-turn agents (GiGPO, GRPO, RLOO; docs/gigpo.md §1, §3).

An iteration: sample ``tasks_per_iteration`` training tasks → roll out ``group_size``
trajectories per task with the shared loop (:mod:`repro.rollout`) → advantages from the
algorithm's estimator on the step rows → one PPO epoch over the rows (:mod:`repro.trainer.update`)
→ metrics line → validation every ``eval_every`` → checkpoint every ``save_every``.

Reproducibility: every random choice of iteration ``i`` draws from a seed derived from
(``seed``, ``i``, purpose), and a checkpoint also carries every global RNG state, so a run
resumed from the checkpoint of iteration ``k`` repeats iterations ``k+1…`` bit for bit (CPU).
Metrics lines written after the checkpoint are dropped on resume (:mod:`repro.trainer.run`, which
prepares the run directory and picks the recipe), so none is duplicated.

Scale-out (docs/peers.md §4, :mod:`repro.trainer.distributed`): under ``torchrun`` each rank rolls out
its share of whole task groups, so the estimator never needs another rank's rows; the model is
sharded with FSDP2, rank 0 writes every file, and a run is reproducible at a fixed world size.
World size 1 is the plain single-process trainer.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.io import append_jsonl, atomic_write_jsonl
from repro.progress import log_line
from repro.results.run_dir import METRICS_SCHEMA_VERSION, RunDir
from repro.seeding import derive_seed
from repro.trainer import metrics as M
from repro.trainer.advantages import estimate, step_rows
from repro.trainer.checkpoint import load_checkpoint, save_checkpoint
from repro.trainer.config import TrainConfig
from repro.trainer.distributed import full_state_dict, global_group, init_distributed, rank_seed, rank_share, shard_model
from repro.trainer.update import UpdateBatch, causal_lm_scorer, logprob_mismatch, ppo_epoch, recompute_logprobs
from repro.trainer.view import QuietView

METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
MODEL = "model"  # the final weights in Hugging Face format: model.path=<run>/model for repro eval
# one file per iteration in each: the training episodes (samples/), validation episodes, step rows (dump_rows)
SAMPLES, VALIDATION, ROWS = "samples", "validation", "rows"
ITERATION_DIRS = (SAMPLES, VALIDATION, ROWS)
PURPOSES = {"tasks": 0, "sampling": 1, "shuffle": 2, "validation": 3}


def iteration_seed(seed: int, iteration: int, purpose: str) -> int:
    """A 31-bit seed for one purpose of one iteration, independent of everything before it."""
    return derive_seed(seed, iteration, PURPOSES[purpose])


def run_name(cfg: TrainConfig) -> str:
    return cfg.run_name or f"train-{cfg.algo}-{cfg.env.name}"


def iteration_file(run_path: Path, directory: str, iteration: int) -> Path:
    return run_path / directory / f"iter_{iteration:06d}.jsonl"


def step_row_dump(rows: list[Any], advantages: list[Any], anchor_group: np.ndarray | None) -> list[dict[str, Any]]:
    """One ``repro advantages --rows`` object per step row (its input fields, 1-based steps) with the
    trainer's advantage (and GiGPO's step-group code), so the estimator can be re-run on what trained."""
    out = []
    for i, (r, advantage) in enumerate(zip(rows, advantages)):
        obj = {"group": r.group, "traj": r.traj, "step": r.number, "anchor": r.anchor, "reward": r.reward,
               "valid": r.valid, "done": r.done, "advantage": advantage}
        if anchor_group is not None:
            obj["step_group"] = int(anchor_group[i])
        out.append(obj)
    return out


class TimedPolicy:
    """The policy with its ``sample`` calls timed, so rollout time splits into generation and the
    rest (env steps not hidden behind generation, prompt rendering); ``on_sample(replies, tokens,
    seconds)`` hears of every call (the live progress of an iteration)."""

    def __init__(self, policy: Any, on_sample: Any = None):
        self.policy = policy
        self.seconds = 0.0
        self.on_sample = on_sample

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        generations = self.policy.sample(*args, **kwargs)
        elapsed = time.perf_counter() - start
        self.seconds += elapsed
        if self.on_sample is not None:
            self.on_sample(len(generations), sum(len(g.response_ids) for g in generations), elapsed)
        return generations

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)


class Trainer:
    """Holds the policy, reference, optimiser and env pool of one run; :meth:`run` trains."""

    def __init__(self, cfg: TrainConfig, run_dir: RunDir):
        from repro.algos import ALGOS
        from repro.envs import ENVS
        from repro.policy import load_policy

        self.cfg = cfg
        self.run_dir = run_dir
        self.dist = init_distributed(cfg.model.device)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        engine = {}
        if cfg.model.backend == "vllm":
            from repro.policy.vllm import training_engine_kwargs

            engine = training_engine_kwargs(self.dist.world, self.dist.rank)
        self.policy = load_policy(cfg.model, **engine)  # the sampler
        # The trained weights: the sampler's own model in one process with the HF backend; else an
        # HF copy (FSDP-sharded under torchrun) whose full weights the sampler loads after each update.
        self.base_model = (self.policy.model if cfg.model.backend == "hf"
                           else load_policy(dataclasses.replace(cfg.model, backend="hf")).model)
        self.sampler_is_trained = cfg.model.backend == "hf" and not self.dist.enabled
        # Dropout stays off (eval mode) in the update too, so recomputed log-probs equal the sampler's.
        self.base_model.eval()
        self.model = self.base_model if self.sampler_is_trained else copy.deepcopy(self.base_model)
        self.reference = None
        if cfg.loss.kl_coef > 0:  # the frozen initial weights (a copy before any update or resume)
            self.reference = copy.deepcopy(self.base_model).requires_grad_(False)
        if self.dist.enabled:
            self.model = shard_model(self.model, self.dist)
            if self.reference is not None:
                self.reference = shard_model(self.reference, self.dist)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                                           weight_decay=cfg.optim.weight_decay)
        self.score = causal_lm_scorer(self.policy.pad_id)
        self.algorithm = ALGOS.get(cfg.algo)
        self.env_cls = ENVS.get(cfg.env.name)
        self.task_source = self.env_cls(cfg.env, cfg.data_dir)
        self.view = QuietView(cfg, run_name(cfg), 0)  # run() shows the real one

    # -- one iteration ------------------------------------------------------------------------

    def iteration(self, pool, it: int) -> dict[str, Any]:
        from repro.rollout import collect_groups

        cfg = self.cfg
        t0 = time.perf_counter()
        tasks = self.task_source.sample_tasks(self.env_cls.TRAIN_SPLIT, cfg.tasks_per_iteration,
                                              iteration_seed(cfg.seed, it, "tasks"))
        sampling = dataclasses.replace(cfg.sampling, seed=rank_seed(iteration_seed(cfg.seed, it, "sampling"), self.dist.rank))
        timed = TimedPolicy(self.policy, on_sample=self.view.sampled)
        mine = rank_share(tasks, self.dist)
        self.view.phase(it, "rollout", episodes=len(mine) * cfg.group_size)
        rollout = collect_groups(pool, timed, mine, group_size=cfg.group_size, sampling=sampling,
                                 on_episode=self.view.episode_done)
        episodes = self.all_episodes(rollout.episodes, cfg.group_size)  # under torchrun: waits for the slowest rank
        t1 = time.perf_counter()

        if self.dist.is_main:
            atomic_write_jsonl(iteration_file(self.run_dir.path, SAMPLES, it), [e.to_json() for e in episodes])
        rows = rollout.rows
        self.view.phase(it, "update", episodes=0)
        advantages, anchor_group = self.advantages(rows)
        if cfg.dump_rows:
            self.dump_rows(it, step_row_dump(rows, advantages, anchor_group))
        t2 = time.perf_counter()

        batch = UpdateBatch([r.prompt_ids for r in rows], [r.response_ids for r in rows],
                            [r.logprobs for r in rows], advantages)
        update = self.update(batch, it)
        t3 = time.perf_counter()

        response_tokens = sum(len(r.response_ids) for r in rows)
        line: dict[str, Any] = {"iteration": it, "tasks": [str(t) for t in tasks]}
        line.update(self.env_cls.summarize(episodes))
        line.update({"rows": int(self.dist.sum(len(rows))), "response_tokens": int(self.dist.sum(response_tokens))})
        line.update(update)
        line.update(M.advantage_summary([a for part in self.dist.gather(advantages) for a in part]))
        if anchor_group is not None:
            line.update(M.anchor_group_sizes(M.concat_codes(self.dist.gather(anchor_group))))
        timing = {
            "rollout_s": t1 - t0,
            "generate_s": timed.seconds,
            "env_s": t1 - t0 - timed.seconds,
            "advantage_s": t2 - t1,
            "update_s": t3 - t2,
            "tokens_per_s": response_tokens / timed.seconds if timed.seconds else 0.0,
            "peak_rss_mb": M.peak_rss_mb(),
        }
        line["timing"] = M.combine_timing(self.dist.gather(timing))
        return line

    def all_episodes(self, episodes: list[Any], group_size: int) -> list[Any]:
        """Every rank's episode records, renumbered by the iteration's task list (world size 1: as given)."""
        if not self.dist.enabled:
            return episodes
        for e in episodes:
            member = e.traj - e.group * group_size
            e.group = global_group(e.group, self.dist)
            e.traj = e.group * group_size + member
        return sorted((e for part in self.dist.gather(episodes) for e in part), key=lambda e: e.traj)

    def dump_rows(self, it: int, rows: list[dict[str, Any]]) -> None:
        """``dump_rows=true``: this iteration's rows as ``rows/iter_N.jsonl`` (every rank's, renumbered
        like the episodes), readable by ``repro advantages --rows``."""
        if self.dist.enabled:
            size = self.cfg.group_size
            for r in rows:
                member, group = r["traj"] - r["group"] * size, global_group(r["group"], self.dist)
                r["group"], r["traj"] = group, group * size + member
                r.pop("step_group", None)  # codes are rank-local
            rows = sorted((r for part in self.dist.gather(rows) for r in part), key=lambda r: (r["traj"], r["step"]))
        if self.dist.is_main:
            atomic_write_jsonl(iteration_file(self.run_dir.path, ROWS, it), rows)

    def row_order(self, n_rows: int, it: int) -> list[int]:
        """The order rows are split into mini-batches: shuffled with the iteration's seed."""
        if not self.cfg.shuffle_rows:
            return list(range(n_rows))
        generator = torch.Generator().manual_seed(iteration_seed(self.cfg.seed, it, "shuffle"))
        return torch.randperm(n_rows, generator=generator).tolist()

    def sync_sampler(self) -> None:
        """Give the sampler the trained weights (after each update and on resume), unless it trains them itself."""
        if not self.sampler_is_trained:
            self.policy.load_weights(full_state_dict(self.model))

    def auxiliary(self) -> dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]:
        """Further (model, optimiser) pairs a checkpoint carries (PPO: the critic)."""
        return {}

    def update(self, batch: UpdateBatch, it: int) -> dict[str, Any]:
        """One PPO epoch over ``batch`` (shuffled with the iteration's seed); its metrics, with how
        far the sampler's log-probs are from the trainer's (``logprob_mismatch``: over the first
        mini-batch's rows, from the epoch's own forward, or over every row, one more forward)."""
        cfg = self.cfg
        temperature = cfg.sampling.temperature
        if cfg.model.backend == "vllm":
            self.policy.sleep()  # its GPU memory goes to the update; sync_sampler wakes it
        mismatch = {}
        if cfg.logprob_mismatch == "all_rows":
            recomputed = recompute_logprobs(self.model, self.score, batch, temperature, cfg.micro_batch_rows, self.dist)
            mismatch = logprob_mismatch(batch.old_logprobs, recomputed, self.dist)
        update = ppo_epoch(self.model, self.reference, self.optimizer, self.score, batch, self.row_order(len(batch), it),
                           cfg.loss, temperature, cfg.mini_batch_rows, cfg.micro_batch_rows, cfg.optim.grad_clip, self.dist)
        self.sync_sampler()
        return update | mismatch

    def rollout_pool(self) -> Any:
        """What an iteration rolls out with: the env worker pool (math recipes: a verifier pool)."""
        from repro.rollout import EnvPool

        return EnvPool(self.env_cls, self.cfg.env, self.cfg.rollout, data_dir=self.cfg.data_dir)

    def advantages(self, rows) -> tuple[list[float], np.ndarray | None]:
        """One advantage per row, and GiGPO's step-group code per row (None for other algorithms)."""
        if not rows:
            return [], None
        result = estimate(self.algorithm, step_rows(rows), self.cfg.advantage)
        # the step groups are a component of GiGPO's result only (logged as their sizes, dumped per row)
        return result.advantage.astype(float).tolist(), getattr(result, "anchor_group", None)

    # -- the run ------------------------------------------------------------------------------

    def resume(self, checkpoint: Path | None) -> int:
        """Load ``checkpoint`` (None: a fresh run) into the model, optimiser and auxiliary pairs; the
        iteration it ends."""
        if checkpoint is None:
            return 0
        start = load_checkpoint(checkpoint, self.model, self.optimizer, self.auxiliary())["iteration"]
        self.sync_sampler()
        if self.dist.is_main:
            log_line(f"resumed from checkpoint {checkpoint} (iteration {start})")
        return start

    def run(self, start: int) -> None:
        """Iterations ``start + 1 …`` (the run directory's metrics already end at ``start``)."""
        from omegaconf import OmegaConf

        from repro.trainer.report import Trackers
        from repro.trainer.view import make_view

        cfg = self.cfg
        ckpt_root = self.run_dir.path / CHECKPOINTS
        metrics_path = self.run_dir.path / METRICS
        main = self.dist.is_main
        trackers = Trackers(cfg.report_to if main else [], self.run_dir.path, run_name(cfg),
                            OmegaConf.to_container(OmegaConf.structured(cfg)))
        try:
            with self.rollout_pool() as pool, make_view(cfg, run_name(cfg), start, main) as view:
                self.view = view
                for it in range(start + 1, cfg.iterations + 1):
                    line = self.iteration(pool, it)  # it and validate() tell the view their phases
                    if cfg.eval_every and it % cfg.eval_every == 0:
                        started = time.perf_counter()
                        line.update(self.validate(pool, it))
                        line["timing"]["validation_s"] = time.perf_counter() - started
                    if main:
                        append_jsonl(metrics_path, {"schema_version": METRICS_SCHEMA_VERSION, **line})
                    trackers.log(line)
                    view.record(line)
                    if (cfg.save_every and it % cfg.save_every == 0) or it == cfg.iterations:
                        save_checkpoint(ckpt_root, it, self.model, self.optimizer,
                                        {"seed": cfg.seed, "next_task_seed": iteration_seed(cfg.seed, it + 1, "tasks"),
                                         "next_sampling_seed": iteration_seed(cfg.seed, it + 1, "sampling"),
                                         "world_size": self.dist.world},
                                        keep_last=cfg.keep_checkpoints, extra=self.auxiliary())
        finally:
            trackers.close()

    def export_model(self, target: Path) -> None:
        """The trained weights as a Hugging Face model directory (every rank calls it: gathering
        FSDP shards is a collective); rank 0 writes it."""
        from repro.trainer.sft import save_model

        weights = None if self.sampler_is_trained else full_state_dict(self.model)
        if self.dist.is_main:
            if weights is not None:
                self.base_model.load_state_dict(weights)
            save_model(self.base_model, self.policy.tokenizer, target)

    def validate(self, pool, it: int) -> dict[str, Any]:
        """``repro eval``'s task list and rollout at the validation sampling settings (T = 0.4);
        metrics prefixed ``val_``, episodes written to ``validation/iter_N.jsonl``."""
        from repro.eval.agent import eval_tasks, per_task_stderr
        from repro.eval.config import EvalConfig
        from repro.rollout import collect_groups

        cfg = self.cfg
        val = cfg.validation
        eval_cfg = EvalConfig(env=cfg.env, model=cfg.model, sampling=val.sampling, split=val.split,
                              limit=val.episodes, data_dir=cfg.data_dir)
        split, pairs = eval_tasks(self.env_cls, eval_cfg)
        sampling = dataclasses.replace(val.sampling, seed=rank_seed(iteration_seed(cfg.seed, it, "validation"), self.dist.rank))
        tasks = rank_share([task for task, _ in pairs], self.dist)
        self.view.phase(it, "validation", episodes=len(tasks))
        timed = TimedPolicy(self.policy, on_sample=self.view.sampled)
        rollout = collect_groups(pool, timed, tasks, 1, sampling, on_episode=self.view.episode_done)
        episodes = self.all_episodes(rollout.episodes, 1)
        if self.dist.is_main:
            atomic_write_jsonl(iteration_file(self.run_dir.path, VALIDATION, it), [e.to_json() for e in episodes])
        summary = self.env_cls.summarize(episodes)
        return ({f"val_{k}": v for k, v in summary.items()}
                | {"val_split": split, "val_stderr": per_task_stderr(self.env_cls, episodes, summary)})
