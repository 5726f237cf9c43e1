"""One way to derive independent seeds, so every stream (iteration, rank, batch, exit position) is a
pure function of the run's seed and its own coordinates, whatever ran before it."""

from __future__ import annotations

import numpy as np


def derive_seed(*parts: int) -> int:
    """A 31-bit seed from ``parts`` (fits every generator we seed: torch, numpy, vLLM)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] >> 1)
