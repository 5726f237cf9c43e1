"""The kill-anywhere battery (bench/kill_anywhere.py) with fewer kills: `repro train` SIGKILLed
twice inside checkpoint writes and twice at random moments, resumed each time, ends bit-identical
to the uninterrupted run (metrics, samples, validation, exported model). The bench script's
default (10 kills) is the full battery."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_kills_anywhere_resume_bit_identical(tmp_path, tiny_model_dir):
    spec = importlib.util.spec_from_file_location("kill_anywhere", ROOT / "bench" / "kill_anywhere.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    said: list[str] = []
    result = bench.battery(tmp_path, kills=4, seed=1, log=said.append)
    assert result["kills"] == 4 and result["in_checkpoint_write"] >= 1, said
    assert result["differences"] == [], said
