"""sha256 of files and directories (data checks, model hashes in results.json)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def directory_sha256(directory: str | Path) -> str:
    """One hash over every file below ``directory``: sha256 of the sorted ``<sha256>  <relative
    path>`` lines (the ``sha256sum`` format), so renames and content changes both show."""
    root = Path(directory)
    lines = [f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n"
             for p in sorted(root.rglob("*")) if p.is_file()]
    return hashlib.sha256("".join(lines).encode()).hexdigest()
