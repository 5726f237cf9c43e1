"""Where data, caches and results live.

* data root: ``data_dir`` config key, else ``$REPRO_DATA``, else ``../shared/data`` next to the
  checkout when it exists, else ``~/.cache/repro/data`` (filled by ``repro data fetch``).
* cache: ``$REPRO_CACHE`` or ``~/.cache/repro`` (the tiny model, unpacked ALFWorld games).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from repro.errors import ReproError

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("REPRO_CACHE", Path.home() / ".cache" / "repro"))


def default_data_dir() -> Path:
    if os.environ.get("REPRO_DATA"):
        return Path(os.environ["REPRO_DATA"])
    shared = REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return cache_dir() / "data"


def data_dir(override: str | None = None) -> Path:
    """The data root; raises a one-line ReproError if it does not exist."""
    root = Path(override) if override else default_data_dir()
    if not root.is_dir():
        raise ReproError(
            f"data directory {root} does not exist; set data_dir=PATH or REPRO_DATA, "
            f"or run `repro data fetch`"
        )
    return root


def data_file(relative: str, override: str | None = None) -> Path:
    """A file under the data root, with a one-line error naming it if missing."""
    path = data_dir(override) / relative
    if not path.exists():
        raise ReproError(f"missing data file {path}; run `repro data fetch` or set data_dir=PATH")
    return path


def git_commit() -> str:
    """The checkout's commit (with '-dirty' if the tree has changes), or 'unknown'."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
