"""``repro eval`` for agent envs (ALFWorld, WebShop): episodes of a model or scripted policy.

Generic over :class:`repro.envs.base.AgentEnv`: the env lists its tasks (or, for
``--policy replay``, reads them from a recorded-episodes file), the rollout pool runs them, and the
env's ``summarize`` / ``breakdown_key`` hooks name the metrics and the per-bucket table.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.table import Table

from repro.console import make_console
from repro.envs import ENVS
from repro.errors import ReproError
from repro.eval.config import EvalConfig
from repro.policy import load_policy
from repro.progress import Counter
from repro.results.run_dir import RunDir, default_run_name
from repro.results.schema import EPISODES, Results, model_info, with_stderr
from repro.results.stats import stderr_of_mean
from repro.rollout import EnvPool, EpisodeRecord, collect_groups, run_scripted
from repro.rollout.scripted import load_factory
from repro.seeding import derive_seed

COUNT_KEYS = ("episodes", "failed_episodes")  # summary keys that are counts (results.json ``counts``), not metrics


SUBSET_SEED = 0  # one fixed --limit subset per split: a config's seeds vary the sampling, not the tasks


def eval_tasks(env_cls: type, cfg: EvalConfig) -> tuple[str, list[tuple[Any, dict]]]:
    """(split label, [(task, scripted-policy kwargs)]) in evaluation order, ``--limit`` applied
    (the env's ``evaluation_subset`` of the split; a replay file's first N)."""
    if cfg.policy == "replay":
        if not cfg.episodes_file:
            raise ReproError("--policy replay needs --episodes FILE (a JSONL of recorded episodes)")
        split, pairs = f"replay:{cfg.episodes_file}", env_cls.replay_episodes(cfg.episodes_file)
    else:
        split = cfg.split or env_cls.EVAL_SPLIT
        tasks = env_cls(cfg.env, cfg.data_dir).task_ids(split)
        pairs = [(t, {}) for t in (env_cls.evaluation_subset(tasks, cfg.limit, SUBSET_SEED) if cfg.limit else tasks)]
    if not pairs:
        raise ReproError(f"no tasks to evaluate for {cfg.env.name} ({split})")
    return split, pairs[: cfg.limit] if cfg.limit else pairs


def per_task_stderr(env_cls: type, episodes: list[EpisodeRecord], summary: dict[str, Any]) -> dict[str, float]:
    """The standard error over tasks of every metric of ``summary`` that is a mean over tasks (the
    episodes of one task are averaged first, as a math eval averages a problem's samples: they are
    not independent draws of the benchmark). Ratios over steps (invalid_action_rate) and counts are
    not means over tasks and get none."""
    by_task: dict[int, list[EpisodeRecord]] = defaultdict(list)
    for e in episodes:
        by_task[e.group].append(e)
    per_task = [env_cls.summarize(eps) for eps in by_task.values()]
    out = {}
    for key, value in summary.items():
        if key in COUNT_KEYS or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        units = [float(m[key]) for m in per_task if key in m]
        stderr = stderr_of_mean(units)
        if stderr is not None and abs(sum(units) / len(units) - value) <= 1e-9 * max(1.0, abs(value)):
            out[key] = stderr
    return out


def run_agent_eval(cfg: EvalConfig) -> Path:
    from repro.eval.prompting import PROMPTED_POLICIES, env_intro

    env_cls = ENVS.get(cfg.env.name)
    prompted = cfg.prompting.style != "plain"
    if prompted:
        if cfg.policy not in PROMPTED_POLICIES:
            raise ReproError(f"prompting.style={cfg.prompting.style} needs policy {' or '.join(PROMPTED_POLICIES)} "
                             f"(replies to its prompts), got '{cfg.policy}'")
        env_intro(cfg.env.name)  # an env without ReAct prompts fails before any work
    elif cfg.policy != "model":
        load_factory(env_cls, cfg.policy)  # an unknown policy name fails before any work
    split, pairs = eval_tasks(env_cls, cfg)
    run = RunDir.create(cfg.results_dir, cfg.run_name or default_run_name("eval", cfg.env.name), cfg)
    console = make_console()
    wins = 0
    policy = None

    with Counter(f"{cfg.env.name} {split} ({cfg.policy})", len(pairs) * cfg.samples, "episodes", console) as counter:

        def advance(record: EpisodeRecord) -> None:
            nonlocal wins
            wins += record.success
            counter.advance(1, note=f"won {wins}")

        with EnvPool(env_cls, cfg.env, cfg.rollout, cfg.data_dir) as pool:
            tasks = [task for task, _ in pairs]
            # the run's seed selects the sampling stream, as in math evals: seeds of one config differ
            sampling = dataclasses.replace(cfg.sampling, seed=derive_seed(cfg.seed, cfg.sampling.seed))
            if cfg.policy == "model":
                policy = load_policy(cfg.model)
            if prompted:
                from repro.eval.prompting import ModelReplier, ScriptedReplier, run_prompted

                replier = (ModelReplier(policy, sampling, cfg.env.max_prompt_tokens) if policy is not None
                           else ScriptedReplier(cfg.seed))
                episodes = run_prompted(pool, replier, tasks, cfg.samples, cfg.prompting, on_episode=advance)
            elif policy is not None:
                episodes = collect_groups(pool, policy, tasks, cfg.samples, sampling, on_episode=advance).episodes
            else:
                episodes = run_scripted(pool, cfg.policy, pairs, seed=cfg.seed, group_size=cfg.samples,
                                        on_episode=advance)

    summary = env_cls.summarize(episodes)
    run.write_samples([env_cls.sample_row(e) for e in episodes])
    metrics = with_stderr({k: v for k, v in summary.items() if k not in COUNT_KEYS},
                          per_task_stderr(env_cls, episodes, summary))
    model = (model_info(cfg.model.path, getattr(policy, "model_dir", None), cfg.model.backend)
             if cfg.policy == "model" else model_info(None, None, None))
    run.write_results(Results(
        kind="eval", env=cfg.env.name, policy=cfg.policy, split=split, metrics=metrics, model=model,
        sampling=dataclasses.asdict(cfg.sampling) if cfg.policy == "model" else None,
        seeds={"seed": cfg.seed, "sampling.seed": cfg.sampling.seed,
               "derivation": "model policy: SeedSequence([seed, sampling.seed]); scripted policies: seed"},
        unit=EPISODES, counts={"tasks": len(pairs), "episodes_per_task": cfg.samples, "episodes": len(episodes),
                "failed_episodes": int(summary.get("failed_episodes", 0))},
        details={"env_provenance": env_cls(cfg.env, cfg.data_dir).provenance()}
        | ({"prompting": dataclasses.asdict(cfg.prompting)} if prompted else {}),
    ))
    console.print(breakdown_table(env_cls, episodes, summary))
    console.print(f"results: {run.path / 'results.json'}")
    return run.path


def breakdown_table(env_cls: type, episodes: list[EpisodeRecord], metrics: dict[str, float]) -> Table:
    table = Table(title=f"success by {env_cls.__name__} bucket")
    for col in ("bucket", "episodes", "won", "success rate"):
        table.add_column(col, justify="left" if col == "bucket" else "right")
    buckets: dict[str, list[EpisodeRecord]] = {}
    for e in episodes:
        key = env_cls.breakdown_key(e)
        if key is not None:
            buckets.setdefault(key, []).append(e)
    for key, eps in sorted(buckets.items()):
        table.add_row(key, str(len(eps)), str(sum(e.success for e in eps)), f"{metrics[f'success_rate_{key}']:.3f}")
    table.add_row("all", str(len(episodes)), str(sum(e.success for e in episodes)), f"{metrics['success_rate']:.3f}",
                  style="bold")
    failed = sum(e.failed is not None for e in episodes)
    if failed:
        table.caption = f"{failed} episode(s) failed (worker crash/hang or env error); see samples.jsonl"
    return table
