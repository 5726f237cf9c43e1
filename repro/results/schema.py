"""The one ``results.json`` schema every driver writes (train, eval, sft, exit curve) and ``repro
compare`` reads back: a typed contract instead of a dict per driver.

    {"schema_version": 2, "kind": "train" | "eval" | "sft" | "exit_curve", "env": ..., "split": ...,
     "algo": ..., "policy": ...,
     "metrics": {"<name>": {"value": v, "stderr": s | null}, ...},   # the reported point
     "model": {"path", "directory", "sha256", "backend"},             # the weights evaluated / trained from
     "sampling": {...} | null, "seeds": {...}, "counts": {...}, "unit": "episodes" | "responses" | "",
     "details": {...},                                                # what only this kind has
     "provenance": {"git_commit", "config_sha256", "hardware", "versions", "created", "elapsed_s"}}

What "the reported point" is, per kind: an eval's metrics over its episodes / responses (stderr over
tasks or problems); a training run's metrics at its last validation (what the papers report; stderr
over the validation episodes) with the last training iteration's metrics in ``details.last_iteration``;
an SFT run's losses. ``counts`` holds how many units stand behind the metrics (``episodes`` for agents,
``responses`` for math, plus the structure: tasks, samples per task, iterations, ...); ``unit`` names
which of them the metrics average over, so a reader never probes ``counts`` for it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from repro.data.checksums import directory_sha256
from repro.errors import ReproError

SCHEMA_VERSION = 2
KINDS = ("train", "eval", "sft", "exit_curve")
EPISODES, RESPONSES = "episodes", "responses"  # the units behind an agent run's and a math run's metrics
UNITS = (EPISODES, RESPONSES)
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Metric:
    value: float
    stderr: Optional[float] = None  # None: no standard error exists (one unit, or a training statistic)


@dataclass(frozen=True)
class ModelInfo:
    path: Optional[str] = None  # as configured ('tiny' or a directory); None for scripted policies
    directory: Optional[str] = None  # the directory the weights were read from
    sha256: Optional[str] = None  # repro.data.checksums.directory_sha256 of that directory
    backend: Optional[str] = None


@dataclass(frozen=True)
class Provenance:
    git_commit: str = "unknown"
    config_sha256: Optional[str] = None  # sha256 of the run directory's config.yaml
    hardware: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    elapsed_s: float = 0.0  # seconds from opening the run directory to writing results.json


@dataclass(frozen=True)
class Results:
    kind: str
    env: str
    metrics: dict[str, Metric]
    model: ModelInfo = field(default_factory=ModelInfo)
    split: Optional[str] = None
    algo: Optional[str] = None  # training runs
    policy: Optional[str] = None  # evals: model | expert | random | oracle | replay
    sampling: Optional[dict[str, Any]] = None  # the SamplingConfig behind the metrics (None: scripted)
    seeds: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    unit: str = ""  # the counts entry the metrics average over (UNITS); "" for sft, whose metrics are losses
    details: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    schema_version: int = SCHEMA_VERSION

    @property
    def units(self) -> int:
        """How many units (episodes or responses) stand behind the metrics (0 for sft)."""
        return int(self.counts[self.unit]) if self.unit else 0

    def value(self, name: str) -> Optional[float]:
        metric = self.metrics.get(name)
        return None if metric is None else metric.value

    def to_json(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        return {"schema_version": body.pop("schema_version"), **body}

    @classmethod
    def from_json(cls, body: Any, where: str = RESULTS_FILE) -> "Results":
        """The typed results; a one-line ReproError for another schema version or a malformed file."""
        if not isinstance(body, dict):
            raise ReproError(f"{where} is not a JSON object")
        version = body.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ReproError(f"{where} has schema_version {version}; this repro reads [{SCHEMA_VERSION}]")
        try:
            fields = {k: body[k] for k in (f.name for f in dataclasses.fields(cls)) if k in body}
            fields["metrics"] = {name: Metric(**m) for name, m in body["metrics"].items()}
            fields["model"] = ModelInfo(**body.get("model") or {})
            fields["provenance"] = Provenance(**body.get("provenance") or {})
            if "unit" not in body and body.get("kind") != "sft":
                # written before the field (same schema version): the one unit its counts hold is it
                fields["unit"] = next((u for u in UNITS if u in body.get("counts", {})), "")
            results = cls(**fields)
        except (KeyError, TypeError, AttributeError) as e:
            raise ReproError(f"{where} does not follow results schema {SCHEMA_VERSION}: {e}") from None
        if results.kind not in KINDS:
            raise ReproError(f"{where}: unknown kind '{results.kind}' (one of {', '.join(KINDS)})")
        if results.kind != "sft" and (results.unit not in UNITS or results.unit not in results.counts):
            raise ReproError(f"{where} does not name the unit of its metrics (unit: {' or '.join(UNITS)}, counted in "
                             f"counts; got '{results.unit}')")
        return results


def read_results(run_dir: str | Path) -> Results:
    path = Path(run_dir) / RESULTS_FILE
    try:
        body = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ReproError(f"cannot read {path}: {e}") from None
    return Results.from_json(body, str(path))


def plain_metrics(values: dict[str, Any]) -> dict[str, Metric]:
    """Numbers of a summary dict (bools and non-numbers dropped) as metrics without a stderr."""
    return {k: Metric(float(v)) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def with_stderr(values: dict[str, Any], stderr: dict[str, Optional[float]]) -> dict[str, Metric]:
    """The numbers of ``values`` as metrics, each with its standard error where ``stderr`` has one."""
    return {k: Metric(m.value, stderr.get(k)) for k, m in plain_metrics(values).items()}


def model_info(path: Optional[str], directory: Optional[str | Path], backend: Optional[str]) -> ModelInfo:
    """The model as configured and the hash of the directory its weights came from."""
    has_dir = directory is not None and Path(directory).is_dir()
    return ModelInfo(path=path, directory=str(directory) if directory is not None else None,
                     sha256=directory_sha256(directory) if has_dir else None, backend=backend)
