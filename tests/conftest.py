"""Shared fixtures. Tiny models run single-threaded: far faster on the shared 2-core machines."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The real tiny Qwen3 model directory, built once (cached under repro.paths.cache_dir())."""
    import torch

    from repro.policy.tiny import ensure_tiny

    torch.set_num_threads(1)
    return ensure_tiny()
