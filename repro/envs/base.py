"""The contract of multi-turn agent environments (ALFWorld, WebShop, ...).

An env instance runs one episode at a time and lives inside a worker process of the rollout
pool (:mod:`repro.rollout`), so it is built from its config dataclass and the data root alone.
Nothing about it leaks into the trainer: the rollout loop turns its outputs into step rows.

``info`` returned by ``reset`` and ``step`` always carries:
  * ``admissible_actions``: list[str], the actions shown to the model this step
  * ``anchor``: the JSON-able observation GiGPO groups steps on (gigpo.md §2.1/§2.2)
  * ``won``: bool, the task is solved
  * ``task``: str, the task description shown in the prompt
and env-specific fields (``task_type`` for ALFWorld, ``task_score`` for WebShop, ...).
"""

from __future__ import annotations

import abc
from typing import Any


class AgentEnv(abc.ABC):
    #: the env's config dataclass (has at least ``name`` and ``max_steps``)
    Config: type

    def __init__(self, cfg: Any, data_dir: str | None = None):
        self.cfg = cfg

    @abc.abstractmethod
    def task_ids(self, split: str) -> list[str]:
        """Stable ids of the tasks of a split, in a fixed order (evaluation uses a prefix)."""

    @abc.abstractmethod
    def reset(self, task_id: str) -> tuple[str, dict[str, Any]]:
        """Start an episode on ``task_id``; returns (observation text, info)."""

    @abc.abstractmethod
    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        """Apply a text action; returns (observation, reward, done, info)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources."""
