"""Run directories: ``results/<run>/`` with config.yaml, results.json (:mod:`repro.results.schema`),
samples.jsonl (evals; training runs: samples/iter_N.jsonl), metrics.jsonl (training, SFT).

Every file is written atomically (see :mod:`repro.io`); results.json is written last, so its
presence means the run finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from repro.config.load import save_config
from repro.errors import ReproError
from repro.io import atomic_write_json, atomic_write_jsonl
from repro.paths import git_commit
from repro.results.schema import RESULTS_FILE, Provenance, Results

METRICS_SCHEMA_VERSION = 1  # each metrics.jsonl line (training and SFT)


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except ImportError:
        pass
    return info


def package_versions(names: tuple[str, ...] = ("repro", "torch", "transformers", "math-verify",
                                               "alfworld", "textworld", "bm25s", "spacy", "thefuzz")) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def default_run_name(kind: str, env: str) -> str:
    return f"{kind}-{env}-{time.strftime('%Y%m%d-%H%M%S')}"


def claim_new_run(path: Path, fresh: bool) -> None:
    """An eval about to write ``path``: refuse a directory that already holds a run (as ``repro
    train`` refuses a different config), unless ``fresh``, which clears it first."""
    if path.is_dir() and any(path.iterdir()):
        if not fresh:
            raise ReproError(f"run directory {path} already holds a run; pass --fresh to replace it "
                             f"or --run-name NAME for a new one")
        shutil.rmtree(path)


@dataclass
class RunDir:
    path: Path
    started: float = field(default_factory=time.perf_counter)  # for results.json elapsed_s

    @classmethod
    def create(cls, results_dir: str | Path, name: str, cfg: Any) -> "RunDir":
        path = Path(results_dir) / name
        path.mkdir(parents=True, exist_ok=True)
        save_config(cfg, path / "config.yaml")
        return cls(path)

    def write_samples(self, rows: list[dict]) -> Path:
        atomic_write_jsonl(self.path / "samples.jsonl", rows)
        return self.path / "samples.jsonl"

    def write_results(self, results: Results) -> Path:
        """results.json (:mod:`repro.results.schema`) with the provenance every table needs (commit,
        config hash, hardware, versions, seconds since this RunDir was opened)."""
        config = self.path / "config.yaml"
        provenance = Provenance(
            git_commit=git_commit(),
            config_sha256=hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else None,
            hardware=hardware(), versions=package_versions(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            elapsed_s=round(time.perf_counter() - self.started, 3))
        atomic_write_json(self.path / RESULTS_FILE, dataclasses.replace(results, provenance=provenance).to_json())
        return self.path / RESULTS_FILE
