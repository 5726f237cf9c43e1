"""Settings of the rollout loop and its env worker pool."""

from __future__ import annotations

import os
from dataclasses import dataclass

from repro.errors import ReproError


def default_num_workers() -> int:
    """One env worker per CPU this process may run on, shared among the training processes of this
    machine under torchrun (``LOCAL_WORLD_SIZE``; docs/peers.md §4.2)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


@dataclass
class RolloutConfig:
    num_workers: int = 0  # env worker processes; 0 = the CPU count
    pipeline_stages: int = 2  # 1 = plain lock-step; 2 = one stage generates while the other steps
    reset_timeout_s: float = 300.0  # a worker busier than this on one reset is hung
    step_timeout_s: float = 120.0  # ... on one step (a scripted episode gets reset + max_steps x step)

    def validate(self, prefix: str = "rollout") -> None:
        if self.num_workers < 0:
            raise ReproError(f"{prefix}.num_workers must be >= 0 (0 = CPU count), got {self.num_workers}")
        if self.pipeline_stages < 1:
            raise ReproError(f"{prefix}.pipeline_stages must be >= 1, got {self.pipeline_stages}")
        if self.reset_timeout_s <= 0 or self.step_timeout_s <= 0:
            raise ReproError(f"{prefix}.reset_timeout_s and step_timeout_s must be > 0")

    def workers(self) -> int:
        return self.num_workers or default_num_workers()
