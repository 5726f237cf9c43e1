"""The math recipe of the trainer: S-GRPO and its baselines (docs/sgrpo.md §2, §2.9).

Same :class:`repro.trainer.loop.Trainer` (policy, optimiser, PPO update, checkpoints, metrics,
resume); only the rollout and the advantages differ:

* ``sgrpo``: one serial group per query (:mod:`repro.rollout.serial`: full response + m forced
  exits), Eq. 1 rewards and ``r − mean(r)`` (:mod:`repro.algos.sgrpo`); groups without a correct
  early exit are dropped when ``math.filter_groups`` (docs/sgrpo.md §2.8), over-sampling ``math.oversample``×
  queries to refill the batch; the kept fraction is logged.
* ``grpo``: a parallel group of ``group_size`` full responses per query, reward = correctness,
  GRPO's group normalisation (:mod:`repro.algos.grpo`).
* ``length_penalty``: the same parallel group, Arora & Zanette's length-penalised reward with
  α = 0.2 and RLOO (:mod:`repro.algos.length_penalty`).

Defaults follow Eq. 2: PPO-clip (ε = 0.2) without KL, dual clip or entropy bonus, sequence-mean
then group-mean aggregation (``loss.aggregation=token-mean`` for DAPO/Dr.GRPO-style). A response's
answer is what follows its ``</think>``; a response that never closes its thought scores 0 in every
algorithm (docs/sgrpo.md §2.13), so the three are compared on one rule.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from typing import Any

from repro.algos.rows import SerialRows
from repro.config import SamplingConfig
from repro.errors import ReproError
from repro.io import atomic_write_jsonl, read_jsonl
from repro.results.stats import stderr_of_mean
from repro.trainer.advantages import assign_rewards
from repro.trainer.config import MathRecipeConfig, TrainConfig
from repro.trainer.loop import Trainer, iteration_seed


def read_train_file(path: str) -> list[Any]:
    from repro.envs.math import MathProblem

    problems = []
    for i, row in enumerate(read_jsonl(path)):
        question = row.get("question", row.get("problem"))
        if question is None or row.get("answer") is None:
            raise ReproError(f"{path} line {i + 1}: needs 'question' (or 'problem') and 'answer' fields")
        problems.append(MathProblem(f"file/{i}", str(question), str(row["answer"])))
    if not problems:
        raise ReproError(f"{path} holds no problems")
    return problems


class MathTrainer(Trainer):
    """The trainer with math rollouts; the update, checkpoints and run loop are the base class's."""

    def __init__(self, cfg: TrainConfig, run_dir: Any):
        super().__init__(cfg, run_dir)
        if self.dist.enabled:
            raise ReproError("the math recipes (sgrpo, grpo, length_penalty) run in one process for now; "
                             "start them without torchrun")
        recipe: MathRecipeConfig = cfg.math
        self.problems = (read_train_file(recipe.train_file) if recipe.train_file
                         else self.task_source.problems(recipe.train_split))
        # an estimator of serial groups (S-GRPO) gets serial rollouts; the others parallel groups
        self.serial = self.algorithm.inputs is SerialRows

    def rollout_pool(self) -> Any:
        from repro.envs.verify import VerifierPool

        return VerifierPool(self.cfg.env.verify_workers or None, self.cfg.env.verify_timeout_s)

    def _prompts(self, problems: list[Any]) -> list[list[int]]:
        return [self.policy.chat_prompt(self.task_source.messages(p)) for p in problems]

    def iteration(self, pool: Any, it: int) -> dict[str, Any]:
        from repro.rollout.serial import group_summary, member_json
        from repro.trainer import metrics as M
        from repro.trainer.loop import SAMPLES, TimedPolicy, iteration_file
        from repro.trainer.update import UpdateBatch

        cfg, recipe = self.cfg, self.cfg.math
        t0 = time.perf_counter()
        filtering = self.serial and recipe.filter_groups
        n_queries = math.ceil(recipe.oversample * cfg.tasks_per_iteration) if filtering else cfg.tasks_per_iteration
        rng = random.Random(iteration_seed(cfg.seed, it, "tasks"))
        problems = [self.problems[i] for i in rng.sample(range(len(self.problems)), min(n_queries, len(self.problems)))]
        sampling = dataclasses.replace(cfg.sampling, seed=iteration_seed(cfg.seed, it, "sampling"))
        timed = TimedPolicy(self.policy, on_sample=self.view.sampled)
        self.view.phase(it, "rollout", episodes=0)
        groups = self._rollout(timed, pool, problems, sampling)
        t1 = time.perf_counter()

        kept = groups
        if filtering:
            kept = [g for g in groups if g.any_correct_exit()][: cfg.tasks_per_iteration]
        atomic_write_jsonl(iteration_file(self.run_dir.path, SAMPLES, it),
                           [member_json(g, m, self.policy.tokenizer) for g in groups for m in g.members])
        if cfg.dump_rows:
            self.dump_rows(it, self.row_dump(groups))
        self.view.phase(it, "update", episodes=0)
        members = [(g, m) for g in kept for m in g.members]
        batch = UpdateBatch([g.prompt_ids for g, _ in members], [m.response_ids for _, m in members],
                            [m.logprobs for _, m in members], [m.advantage for _, m in members],
                            loss_masks=[m.loss_mask for _, m in members])
        t2 = time.perf_counter()
        update = self.update(batch, it) if members else {"optimizer_steps": 0}
        t3 = time.perf_counter()

        all_members = [m for g in groups for m in g.members]
        response_tokens = sum(len(m.response_ids) for m in all_members)
        line: dict[str, Any] = {"iteration": it, "tasks": [p.id for p in problems]}
        line.update(group_summary(groups))
        line.update({"kept_groups": len(kept), "kept_fraction": len(kept) / len(groups) if groups else 0.0,
                     "reward_mean": sum(m.reward for m in all_members) / max(len(all_members), 1),
                     "rows": len(members), "response_tokens": response_tokens,
                     "trained_tokens": sum(sum(m.loss_mask) for _, m in members)})
        line.update(update)
        line.update(M.advantage_summary([m.advantage for _, m in members]))
        line["timing"] = {"rollout_s": t1 - t0, "generate_s": timed.seconds, "verify_s": t1 - t0 - timed.seconds,
                          "update_s": t3 - t2,
                          "tokens_per_s": response_tokens / timed.seconds if timed.seconds else 0.0,
                          "peak_rss_mb": M.peak_rss_mb()}
        return line

    def row_dump(self, groups: list[Any]) -> list[dict[str, Any]]:
        """``dump_rows=true``: one ``repro advantages --rows`` object per member with the trainer's
        reward and advantage: serial rows for sgrpo (group, exit_index, correct), one-step rows of
        the parallel groups for the baselines (group = query, traj = sample)."""
        if self.serial:
            return [{"group": gi, "problem_id": g.problem.id, "exit_index": m.exit_index, "correct": m.correct,
                     "reward": m.reward, "advantage": m.advantage} for gi, g in enumerate(groups) for m in g.members]
        size = self.cfg.group_size
        return [{"group": i // size, "traj": i, "step": 1, "problem_id": g.problem.id, "anchor": None,
                 "reward": g.full.reward, "valid": True, "correct": g.full.correct, "advantage": g.full.advantage}
                for i, g in enumerate(groups)]

    def _rollout(self, policy: Any, pool: Any, problems: list[Any], sampling: SamplingConfig) -> list[Any]:
        """Groups with verdicts, rewards and advantages: one serial group per query (sgrpo), or
        ``group_size`` one-member groups per query (the parallel baselines)."""
        from repro.rollout.serial import build_exits, check_groups, serial_rollout

        cfg = self.cfg
        prompts = self._prompts(problems)
        if self.serial:
            groups = serial_rollout(policy, problems, prompts, sampling, cfg.math.serial, sampling.seed)
            query = list(range(len(groups)))
        else:
            requests = [(i, p, prompt) for i, (p, prompt) in enumerate(zip(problems, prompts)) for _ in range(cfg.group_size)]
            full = policy.sample([r[2] for r in requests], sampling)
            groups = build_exits(policy, [r[1] for r in requests], [r[2] for r in requests], full, [[]] * len(full),
                                 sampling, cfg.math.serial, sampling.seed)
            query = [r[0] for r in requests]
        check_groups(groups, policy, pool)
        assign_rewards(groups, self.algorithm, cfg.advantage, query)
        return groups

    def validate(self, pool: Any, it: int) -> dict[str, Any]:
        """Accuracy (last boxed answer of the whole response, as `repro eval`) and mean tokens on
        the first ``validation.episodes`` problems of the env's evaluation split, one sample each."""
        from repro.envs.verify import Check
        from repro.trainer.loop import TimedPolicy

        cfg = self.cfg
        split = cfg.validation.split or cfg.env.split
        problems = self.task_source.problems(split)[: cfg.validation.episodes]
        sampling = dataclasses.replace(cfg.validation.sampling, seed=iteration_seed(cfg.seed, it, "validation"))
        self.view.phase(it, "validation", episodes=0)
        generations = TimedPolicy(self.policy, on_sample=self.view.sampled).sample(self._prompts(problems), sampling)
        verdicts = pool.check_all([Check(p.gold, g.text, p.answer_type) for p, g in zip(problems, generations)])
        atomic_write_jsonl(self.run_dir.path / "validation" / f"iter_{it:06d}.jsonl",
                           [{"problem_id": p.id, "response": g.text, "verdict": v.status}
                            for p, g, v in zip(problems, generations, verdicts)])
        n = max(len(problems), 1)
        correct = [float(v.correct) for v in verdicts]
        tokens = [float(len(g.response_ids)) for g in generations]
        return {"val_accuracy": sum(correct) / n, "val_mean_tokens": sum(tokens) / n, "val_responses": len(problems),
                "val_split": split, "val_stderr": {"accuracy": stderr_of_mean(correct), "mean_tokens": stderr_of_mean(tokens)}}
