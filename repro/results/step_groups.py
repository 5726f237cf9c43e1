"""GiGPO's step-group sizes over training (paper §5.5, docs/gigpo.md §6.3) as table metrics: the share of
step groups in each size bucket at the paper's iterations 10, 75 and 140 of 150, read from a
training run's metrics.jsonl (``step_group_size_counts``) at the iteration at the same fraction of
its own training, so a shorter run is compared at the same stage; and the share of step rows alone in
their step group over the whole run (those get A^S = 0, docs/gigpo.md §4.2 step 5)."""

from __future__ import annotations

from typing import Any

import numpy as np

# the paper's §5.5 buckets of step-group size (docs/gigpo.md §6.3): 1, 2-5, 6-9 (around N = 8), 10-49, >= 50
SIZE_BUCKETS = ((1, 1, "1"), (2, 5, "2-5"), (6, 9, "6-9"), (10, 49, "10-49"), (50, None, "≥50"))
PAPER_ITERATIONS = 150  # GiGPO's training length (docs/gigpo.md §5)
PAPER_SNAPSHOTS = (10, 75, 140)  # the iterations the paper's §5.5 describes
SINGLETON_ROW_SHARE = "singleton_row_share"  # metric: mean over iterations of the rows in singleton step groups


def bucket_fractions(counts: dict[str, int]) -> np.ndarray:
    """Fraction of step groups in each size bucket of the paper's §5.5."""
    totals = np.zeros(len(SIZE_BUCKETS))
    for size, count in counts.items():
        s = int(size)
        for b, (low, high, _) in enumerate(SIZE_BUCKETS):
            if s >= low and (high is None or s <= high):
                totals[b] += count
    return totals / totals.sum() if totals.sum() else totals


def share_metric(bucket: str, paper_iteration: int) -> str:
    """The metric name of one bucket's share at one of the paper's iterations, e.g. group_share_10-49_at10."""
    return f"group_share_{bucket.replace('≥', 'ge')}_at{paper_iteration}"


def our_iteration(paper_iteration: int, iterations: int) -> int:
    """Our iteration at the fraction of training that ``paper_iteration`` is of the paper's 150."""
    return min(iterations, max(1, round(paper_iteration / PAPER_ITERATIONS * iterations)))


def share_metrics(lines: list[dict[str, Any]], iterations: int) -> dict[str, float]:
    """Every bucket's share at every paper snapshot whose iteration the run logged step groups for."""
    by_iteration = {line["iteration"]: line["step_group_size_counts"] for line in lines
                    if line.get("step_group_size_counts")}
    out = {}
    for paper_iteration in PAPER_SNAPSHOTS:
        counts = by_iteration.get(our_iteration(paper_iteration, iterations)) if iterations else None
        if counts:
            for (_, _, label), share in zip(SIZE_BUCKETS, bucket_fractions(counts)):
                out[share_metric(label, paper_iteration)] = float(share)
    return out


def singleton_row_share(lines: list[dict[str, Any]]) -> dict[str, float]:
    """The mean over training iterations of the fraction of step rows alone in their step group (the
    rows without a step-level signal); empty for a run that logged no step groups (not GiGPO)."""
    fractions = [line["singleton_row_fraction"] for line in lines if line.get("step_group_size_counts")]
    return {SINGLETON_ROW_SHARE: float(np.mean(fractions))} if fractions else {}
