"""Per-iteration metrics of a training run: pure functions over a rollout's rows and episodes.

A metrics.jsonl line is ``{"iteration": i, <deterministic metrics>, "timing": {...}}``: everything
outside ``timing`` is a function of the config and seed (a resumed run reproduces it bit for bit);
``timing`` holds wall times, throughput and memory.
"""

from __future__ import annotations

import resource
import sys
from typing import Any, Sequence

import numpy as np


def anchor_group_sizes(anchor_group: np.ndarray) -> dict[str, float]:
    """Summary of GiGPO's step groups (rows sharing an anchor state inside one episode group,
    given as dense codes per row): how many, their mean and largest size, and the fraction of rows
    alone in theirs (those get no step-level signal, gigpo.md §4.2 step 5)."""
    sizes = np.bincount(anchor_group)
    sizes = sizes[sizes > 0]
    if not sizes.size:
        return {"step_groups": 0, "step_group_size_mean": 0.0, "step_group_size_max": 0, "singleton_row_fraction": 0.0,
                "step_group_size_counts": {}}
    return {
        "step_groups": int(sizes.size),
        "step_group_size_mean": float(sizes.mean()),
        "step_group_size_max": int(sizes.max()),
        "singleton_row_fraction": float((sizes == 1).sum() / sizes.sum()),
        # size -> number of step groups of that size (the §5.5 distribution, plotted by repro.results.plots)
        "step_group_size_counts": {str(size): int(count) for size, count in enumerate(np.bincount(sizes)) if count},
    }


def advantage_summary(advantages: Sequence[float]) -> dict[str, float]:
    n = len(advantages)
    if n == 0:
        return {"advantage_mean": 0.0, "advantage_std": 0.0, "advantage_abs_max": 0.0}
    mean = sum(advantages) / n
    return {
        "advantage_mean": mean,
        "advantage_std": (sum((a - mean) ** 2 for a in advantages) / n) ** 0.5,
        "advantage_abs_max": max(abs(a) for a in advantages),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process (env workers not included)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def without_timing(line: dict[str, Any]) -> dict[str, Any]:
    """The reproducible part of a metrics line (what resume-equality compares)."""
    return {k: v for k, v in line.items() if k != "timing"}
