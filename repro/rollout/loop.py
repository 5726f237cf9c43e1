"""Group rollouts of a model policy (lock-step, pipelined) and of scripted policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from repro.errors import ReproError
from repro.rollout.pool import EnvPool, Result
from repro.rollout.prompt import project_action
from repro.rollout.scripted import finish_record, load_factory
from repro.rollout.types import EpisodeRecord, Rollout, StepRow
from repro.seeding import derive_seed

OnEpisode = Optional[Callable[[EpisodeRecord], None]]


def reply_seed(base: int, traj: int, step: int) -> int:
    """The sampling seed of one reply, fixed by (base seed, trajectory, step) alone: which other
    episodes share its generation call (a failed one drops out) does not change its draws."""
    return derive_seed(base, traj, step)


@dataclass
class _Traj:
    record: EpisodeRecord
    stage: int
    obs: str = ""
    info: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # (observation, action) per finished step
    rows: list = field(default_factory=list)
    pending: bool = True
    finished: bool = False


def collect_groups(
    pool: EnvPool, policy: Any, tasks: list[Any], group_size: int, sampling: Any,
    on_episode: OnEpisode = None,
) -> Rollout:
    """Run ``group_size`` trajectories of ``policy`` from each task (see :mod:`repro.rollout`)."""
    env_cls, env_cfg = pool.env_cls, pool.env_cfg
    stages = min(pool.cfg.pipeline_stages, max(1, len(tasks) * group_size))
    trajs: list[_Traj] = []
    for g, task in enumerate(tasks):
        for m in range(group_size):
            t = g * group_size + m
            trajs.append(_Traj(EpisodeRecord(group=g, traj=t, task=task, policy="model"), stage=t % stages))
            pool.reset(t, task)

    def end(tr: _Traj, failed: str | None = None) -> None:
        tr.finished, tr.pending = True, False
        rec = tr.record
        if failed is not None:
            rec.failed = failed
            rec.steps = len(tr.rows)
            rec.invalid_steps = sum(not r.valid for r in tr.rows)
        else:
            finish_record(rec, tr.obs, tr.info)
            for row in tr.rows:
                row.episode_return, row.episode_length, row.success = rec.episode_return, rec.steps, rec.success
        if on_episode:
            on_episode(rec)

    def handle(res: Result) -> None:
        tr = trajs[res.eid]
        if tr.finished:  # a request queued behind a failed restore of the same episode
            return
        if not res.ok:
            end(tr, res.value)
            return
        tr.pending = False
        if res.kind == "reset":
            tr.obs, tr.info = res.value
            return
        obs, reward, done, info = res.value
        row, entry = tr.rows[-1], tr.record.trace[-1]
        row.reward, row.done = float(reward), bool(done)
        entry["reward"], entry["done"] = float(reward), bool(done)
        tr.history.append((tr.obs, entry["action"]))
        tr.record.episode_return += float(reward)
        tr.obs, tr.info = obs, info
        if done:
            end(tr)

    by_stage = [[tr for tr in trajs if tr.stage == s] for s in range(stages)]
    while not all(tr.finished for tr in trajs):
        for s, members in enumerate(by_stage):
            while any(tr.pending for tr in members):
                for res in pool.wait():
                    handle(res)
            ready = [tr for tr in members if not tr.finished]
            if not ready:
                continue
            prompts = [_prompt_ids(policy, env_cls, env_cfg, tr) for tr in ready]
            seeds = [reply_seed(sampling.seed, tr.record.traj, len(tr.rows)) for tr in ready]
            for tr, prompt, gen in zip(ready, prompts, policy.sample(prompts, sampling, seeds)):
                reply = gen.text  # special tokens kept (<think> may be one), the ending EOS dropped
                action, valid = project_action(reply, env_cls.ACTION_FALLBACK_CHARS)
                tr.rows.append(StepRow(
                    group=tr.record.group, traj=tr.record.traj, step=len(tr.rows), prompt_ids=list(prompt),
                    response_ids=list(gen.response_ids), logprobs=list(gen.logprobs),
                    anchor=tr.info["anchor"], reward=0.0, valid=valid, done=False,
                ))
                tr.record.trace.append({
                    "observation": tr.obs, "admissible_actions": tr.info["admissible_actions"],
                    "reply": reply, "action": action, "valid": valid,
                })
                tr.pending = True
                pool.step(tr.record.traj, action)
    rows = [row for tr in trajs if tr.record.failed is None for row in tr.rows]
    return Rollout(rows=rows, episodes=[tr.record for tr in trajs])


def _prompt_ids(policy: Any, env_cls: type, env_cfg: Any, tr: _Traj) -> list[int]:
    step = len(tr.rows)
    text = env_cls.render_prompt(
        env_cfg, tr.info["task"], tr.obs, tr.info["admissible_actions"], tr.history, step
    )
    ids = policy.chat_prompt([{"role": "user", "content": text}])
    if len(ids) > env_cfg.max_prompt_tokens:
        raise ReproError(
            f"prompt of {len(ids)} tokens at step {step + 1} of task {tr.record.task!r} exceeds "
            f"env.max_prompt_tokens={env_cfg.max_prompt_tokens}; raise it or lower env.history_length"
        )
    return ids


def run_scripted(
    pool: EnvPool, policy_name: str, tasks: list[tuple[Any, dict]], seed: int = 0,
    group_size: int = 1, on_episode: OnEpisode = None,
) -> list[EpisodeRecord]:
    """Run a scripted policy ``group_size`` times on each (task, factory kwargs), whole episodes
    inside the workers; records come back in (task, member) order."""
    load_factory(pool.env_cls, policy_name)  # unknown names fail here, before any worker work
    specs = [(g, task, kwargs) for g, (task, kwargs) in enumerate(tasks) for _ in range(group_size)]
    for t, (g, task, kwargs) in enumerate(specs):
        pool.scripted(t, policy_name, task, seed * 1_000_003 + t, kwargs, g)
    records: dict[int, EpisodeRecord] = {}
    while len(records) < len(specs):
        for res in pool.wait():
            g, task, _ = specs[res.eid]
            rec = res.value if res.ok else EpisodeRecord(
                group=g, traj=res.eid, task=task, policy=policy_name, failed=res.value
            )
            records[res.eid] = rec
            if on_episode:
                on_episode(rec)
    return [records[t] for t in range(len(specs))]
