"""Run directories: ``results/<run>/`` with config.yaml, results.json (:mod:`repro.results.schema`),
samples.jsonl (evals; training runs: samples/iter_N.jsonl), metrics.jsonl (training, SFT).

Every file is written atomically (see :mod:`repro.io`); results.json is written last, so its
presence means the run finished. A process that writes a run directory holds its lock
(:func:`run_lock`) for as long as it runs, so a second process on the same directory is refused
before it touches anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from repro.config.load import save_config
from repro.errors import ReproError
from repro.io import atomic_write_json, atomic_write_jsonl
from repro.paths import git_commit
from repro.results.schema import RESULTS_FILE, Provenance, Results

METRICS_SCHEMA_VERSION = 1  # each metrics.jsonl line (training and SFT)
LOCK_FILE = ".lock"  # holds the pid of the process running in the directory


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextlib.contextmanager
def run_lock(path: Path, log: Any = None) -> Iterator[None]:
    """Hold an advisory lock (``flock``) on run directory ``path`` while the body runs; refuse with
    one line if another process holds it. The kernel drops the lock of a process that dies, so a
    lock file left by a dead pid is stale: it is taken over, and ``log`` says so."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReproError(f"cannot create run directory {path}: {e.strerror}") from e
    lock_path = path / LOCK_FILE
    while True:
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise ReproError(f"run directory {path} is in use by process {holder} (two runs in one directory "
                             f"would mix their files); wait for it to end, or pass --run-name NAME") from None
        # the holder we waited on may have unlinked the file just before releasing it: lock the new one
        if os.path.exists(lock_path) and os.fstat(handle.fileno()).st_ino == os.stat(lock_path).st_ino:
            break
        handle.close()
    handle.seek(0)
    previous = handle.read().strip()
    if previous.isdigit() and int(previous) != os.getpid() and log is not None:
        state = "gone" if not _pid_alive(int(previous)) else "no longer holding it"
        log(f"run directory {path}: taking over the lock of process {previous}, which is {state}")
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        handle.close()


def claim_new_run(path: Path, fresh: bool) -> None:
    """An eval about to write ``path``: refuse a directory that already holds a run (as ``repro
    train`` refuses a different config), unless ``fresh``, which clears it first (all but the
    lock this process holds)."""
    held = [p for p in path.iterdir() if p.name != LOCK_FILE] if path.is_dir() else []
    if held:
        if not fresh:
            raise ReproError(f"run directory {path} already holds a run; pass --fresh to replace it "
                             f"or --run-name NAME for a new one")
        for p in held:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


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
