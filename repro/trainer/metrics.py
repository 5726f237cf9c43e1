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
    alone in theirs (those get no step-level signal, docs/gigpo.md §4.2 step 5)."""
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
        # size -> number of step groups of that size (the paper's §5.5 distribution, plotted by repro.results.plots)
        "step_group_size_counts": {str(size): int(count) for size, count in enumerate(np.bincount(sizes)) if count},
    }


def advantage_summary(advantages: Sequence[float] | Sequence[Sequence[float]]) -> dict[str, float]:
    """Mean, std and largest magnitude of per-row (or per-token: PPO) advantages."""
    if advantages and isinstance(advantages[0], (list, tuple)):
        advantages = [a for row in advantages for a in row]
    n = len(advantages)
    if n == 0:
        return {"advantage_mean": 0.0, "advantage_std": 0.0, "advantage_abs_max": 0.0}
    mean = sum(advantages) / n
    return {
        "advantage_mean": mean,
        "advantage_std": (sum((a - mean) ** 2 for a in advantages) / n) ** 0.5,
        "advantage_abs_max": max(abs(a) for a in advantages),
    }


def concat_codes(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Dense group codes of several ranks as one code array (each rank's codes shifted past the last's)."""
    out, offset = [], 0
    for codes in parts:
        out.append(np.asarray(codes) + offset)
        offset += int(np.max(codes)) + 1 if len(codes) else 0
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def combine_timing(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """One timing dict for the ranks' (world size 1: the one given): the slowest rank's times and
    peak memory, throughput summed over ranks, and the ranks' peak memory summed."""
    if len(parts) == 1:
        return parts[0]
    combined = {k: sum(p[k] for p in parts) if k == "tokens_per_s" else max(p[k] for p in parts) for k in parts[0]}
    return combined | {"peak_rss_mb_all_ranks": sum(p["peak_rss_mb"] for p in parts)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (env workers not included)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def without_timing(line: dict[str, Any]) -> dict[str, Any]:
    """The reproducible part of a metrics line (what resume-equality compares)."""
    return {k: v for k, v in line.items() if k != "timing"}
