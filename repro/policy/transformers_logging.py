"""transformers' own progress bars, silenced while repro's progress display owns the terminal."""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """Silence transformers' per-shard progress bars while loading or saving a model."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
