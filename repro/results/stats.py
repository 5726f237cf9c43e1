"""Small statistics helpers for reported metrics."""

from __future__ import annotations

import math
from typing import Sequence


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n)); stderr 0 for n < 2."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    if n < 2:
        return m, 0.0
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var / n)


def stderr_of_mean(values: Sequence[float]) -> float | None:
    """The standard error of the mean; None when fewer than two values (no spread to estimate)."""
    return mean_and_stderr(values)[1] if len(values) > 1 else None
