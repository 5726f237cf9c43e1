"""Run directories: ``results/<run>/`` with config.yaml, results.json, samples.jsonl, metrics.jsonl.

Every file is written atomically (see :mod:`repro.io`); results.json is written last, so its
presence means the run finished.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from repro.config.load import save_config
from repro.io import atomic_write_json, atomic_write_jsonl
from repro.paths import git_commit

RESULTS_SCHEMA_VERSION = 1  # results.json
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

    def write_results(self, results: dict[str, Any]) -> Path:
        """results.json with the provenance every table needs (schema, commit, config hash,
        hardware, versions, seconds since this RunDir was opened)."""
        config = self.path / "config.yaml"
        body = {
            "schema_version": RESULTS_SCHEMA_VERSION,
            **results,
            "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else None,
            "elapsed_s": round(time.perf_counter() - self.started, 3),
            "git_commit": git_commit(),
            "hardware": hardware(),
            "versions": package_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write_json(self.path / "results.json", body)
        return self.path / "results.json"
