"""Per-group mean and unbiased std, the baseline of every group-relative estimator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-6  # added to the std before dividing, as the reference code does


@dataclass(frozen=True)
class GroupStats:
    size: np.ndarray  # values per group
    mean: np.ndarray
    std: np.ndarray  # unbiased (Bessel, n - 1); 0 for groups of one value
    total_above_min: np.ndarray  # Σ (x - min), so leave-one-out sums stay exact on ties
    minimum: np.ndarray


def group_stats(values: np.ndarray, groups: np.ndarray, n_groups: int) -> GroupStats:
    """Statistics of ``values`` per dense group code (every code 0..n_groups-1 must occur).

    Each group is summed in sorted order, so the result does not depend on row order bit for
    bit, and shifted by its minimum, so a group of equal values has exactly that mean (an exact
    zero advantage rather than rounding noise that std normalisation would amplify).
    """
    order = np.lexsort((values, groups))
    v, g = values[order], groups[order]
    size = np.bincount(g, minlength=n_groups)
    if (size == 0).any():
        raise ValueError("group codes must be dense: every group needs at least one value")
    minimum = v[np.cumsum(size) - size]
    shifted = v - minimum[g]
    total = np.bincount(g, weights=shifted, minlength=n_groups)
    mean = minimum + total / size
    squares = np.bincount(g, weights=(v - mean[g]) ** 2, minlength=n_groups)
    std = np.sqrt(np.divide(squares, size - 1, out=np.zeros(n_groups), where=size > 1))
    return GroupStats(size=size, mean=mean, std=std, total_above_min=total, minimum=minimum)
