"""The multi-turn agent rollout loop, shared by every agent env (ALFWorld, WebShop) and by both
``repro eval`` and the trainer.

Interface (stable; the trainer and the estimators build on it)::

    from repro.rollout import EnvPool, RolloutConfig, collect_groups, run_scripted

    with EnvPool(env_cls, env_cfg, RolloutConfig(num_workers=2), data_dir=None) as pool:
        # model policy: len(tasks) groups x group_size trajectories (GiGPO/GRPO groups)
        rollout = collect_groups(pool, policy, tasks, group_size=8, sampling=SamplingConfig(...))
        rollout.rows       # list[StepRow]: group, traj, step, prompt_ids, response_ids, logprobs,
                           #   anchor, reward, valid, done (+ episode_return/length, success)
        rollout.episodes   # list[EpisodeRecord] ordered by traj (task, return, success,
                           #   task_score, task_type, failed, full trace)
        # scripted policy (no model) run whole inside the env worker: 'random' or one of
        # env_cls.SCRIPTED_POLICIES ('expert' for ALFWorld, 'oracle'/'replay' for WebShop)
        episodes = run_scripted(pool, "expert", [(task, {}), ...], seed=0)

* ``env_cls`` is an :class:`repro.envs.base.AgentEnv` subclass and ``env_cfg`` its ``Config``;
  a task is JSON-able (a str id or a dict). ``policy`` follows :mod:`repro.policy.base`
  (``chat_prompt`` + ``sample``). Group ``g`` runs ``tasks[g]``; trajectory ids are
  ``g * group_size + member``; step indices are 0-based.
* Each step the loop renders the env's prompt (``env_cls.render_prompt``: role line, task, the last
  ``history_length`` observation/action pairs, step number, observation, admissible actions, the
  ``<think>``/``<action>`` instruction; docs/gigpo.md §2.3), tokenizes it with the policy's chat
  template, generates for all active envs of a pipeline stage in one ``sample`` call, projects the
  reply to an action (:func:`repro.rollout.prompt.project_action`, docs/gigpo.md §2.4) and steps the
  env. A prompt longer than ``env_cfg.max_prompt_tokens`` raises :class:`ReproError` (the paper's
  ``truncation='error'``).
* Lock-step with overlap: trajectories are split (traj id modulo) into
  ``RolloutConfig.pipeline_stages`` fixed stages; while one stage generates, the env workers step the others. Each reply is
  sampled with its own seed, fixed by (``sampling.seed``, trajectory, step), so a rollout is
  reproducible given ``sampling.seed`` and an episode that fails leaves the others' draws as they were.
  ``pipeline_stages=1`` is plain lock-step over every active env.
* Environments live in a bounded pool of worker processes (``num_workers``, default: the CPU
  count); an episode stays on the worker that reset it. A worker that crashes or exceeds
  ``reset_timeout_s``/``step_timeout_s`` is killed and restarted: the episode it was serving is
  recorded as failed (``EpisodeRecord.failed`` holds the reason, its rows are dropped from
  ``rollout.rows``) and the other episodes it hosted are restored on the new worker by replaying
  their actions. The run goes on. Workers are *spawned* (never forked from a process holding
  torch threads), so a script that builds a pool needs the ``if __name__ == "__main__":`` guard.
* Episode ends: the env says done (won or its ``max_steps`` cap). The episode return is the sum of
  env rewards; success is the last ``won``.
"""

from repro.rollout.config import RolloutConfig
from repro.rollout.loop import collect_groups, run_scripted
from repro.rollout.pool import EnvPool
from repro.rollout.prompt import project_action
from repro.rollout.types import EpisodeRecord, Rollout, StepRow

__all__ = [
    "EnvPool", "EpisodeRecord", "Rollout", "RolloutConfig", "StepRow",
    "collect_groups", "project_action", "run_scripted",
]
