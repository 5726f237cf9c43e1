"""Scripted agent policies (no model), run whole inside the env worker next to the env.

A factory ``make(env, task, seed, **kwargs)`` returns an object with
``act(observation: str, info: dict) -> str``. ``random`` is generic; envs add their own through
``SCRIPTED_POLICIES`` (name -> ``"module:attr"``).
"""

from __future__ import annotations

import importlib
import random
from typing import Any, Callable

from repro.errors import ReproError
from repro.registry import did_you_mean
from repro.rollout.types import EpisodeRecord

GENERIC_POLICIES = {"random": "repro.rollout.scripted:make_random"}


class RandomPolicy:
    """Uniform over the admissible actions, seeded per episode."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        return self.rng.choice(info["admissible_actions"])


def make_random(env: Any, task: Any, seed: int, **kwargs: Any) -> RandomPolicy:
    return RandomPolicy(seed)


def scripted_policy_names(env_cls: type) -> list[str]:
    return sorted({**GENERIC_POLICIES, **env_cls.SCRIPTED_POLICIES})


def load_factory(env_cls: type, name: str) -> Callable[..., Any]:
    targets = {**GENERIC_POLICIES, **env_cls.SCRIPTED_POLICIES}
    if name not in targets:
        known = scripted_policy_names(env_cls)
        raise ReproError(
            f"unknown scripted policy '{name}' for {env_cls.__name__}{did_you_mean(name, known)}; "
            f"known: {', '.join(known)}"
        )
    module, _, attr = targets[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def run_scripted_episode(
    env: Any, policy_name: str, task: Any, seed: int, kwargs: dict[str, Any], group: int, traj: int
) -> EpisodeRecord:
    """One whole episode of a scripted policy (the env's max_steps cap ends it)."""
    record = EpisodeRecord(group=group, traj=traj, task=task, policy=policy_name)
    obs, info = env.reset(task)
    agent = load_factory(type(env), policy_name)(env, task, seed, **kwargs)
    done = False
    while not done:
        action = agent.act(obs, info)
        next_obs, reward, done, next_info = env.step(action)
        record.trace.append({
            "observation": obs, "admissible_actions": info["admissible_actions"], "reply": None,
            "action": action, "valid": True, "reward": reward, "done": done,
        })
        record.episode_return += reward
        obs, info = next_obs, next_info
    finish_record(record, obs, info)
    return record


def finish_record(record: EpisodeRecord, final_obs: str, info: dict[str, Any]) -> None:
    """Fill the episode-level fields from its trace and the last info."""
    record.steps = len(record.trace)
    record.invalid_steps = sum(not t["valid"] for t in record.trace)
    record.success = bool(info["won"])
    record.task_score = float(info.get("task_score", float(info["won"])))
    record.task_type = info.get("task_type")
    record.final_observation = final_obs
