"""Shared fixtures. Tiny models run single-threaded: far faster on the shared 2-core machines."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# user turns of every kind the policies see: math, agent observations, a shopping request
QUESTIONS = [
    "What is 2+3?",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Your task is to: put a apple in fridge. go to countertop 1",
    "i need a console table, and price lower than 100.00 dollars",
    "Find $a+b$.",
]
VLLM_SKIP = "vLLM is not installed in this environment; `make setup-vllm && make test-vllm` runs this test"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``vllm`` skip where vLLM is missing, saying why; under ``REPRO_REQUIRE_VLLM=1``
    (``make test-vllm``) a missing vLLM is an error instead, so none of them can skip there."""
    if importlib.util.find_spec("vllm") is not None:
        return
    if os.environ.get("REPRO_REQUIRE_VLLM") == "1":
        raise pytest.UsageError("REPRO_REQUIRE_VLLM=1 but vLLM is not importable here (run `make setup-vllm`)")
    for item in items:
        if item.get_closest_marker("vllm"):
            item.add_marker(pytest.mark.skip(reason=VLLM_SKIP))


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The real tiny Qwen3 model directory, built once (cached under repro.paths.cache_dir())."""
    import torch

    from repro.policy.tiny import ensure_tiny

    torch.set_num_threads(1)
    return ensure_tiny()


@pytest.fixture(scope="session")
def questions() -> list[str]:
    return list(QUESTIONS)


@pytest.fixture(scope="session")
def repro_advantages():
    """`repro advantages` as a user runs it: ``(algo, rows_jsonl, *KEY=VALUE options)`` -> its output rows."""
    def run(algo: str, rows: Path, *options: str) -> list[dict]:
        out = subprocess.run([sys.executable, "-m", "repro", "advantages", "--algo", algo, "--rows", str(rows),
                              *options], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines()]
    return run
