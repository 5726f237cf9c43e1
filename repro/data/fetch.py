"""Download registry files (resuming, sha256-verified, atomic) and check a data root against them."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from repro.data.checksums import CHUNK, sha256_file
from repro.data.sources import Source
from repro.errors import ReproError
from repro.registry import did_you_mean

TIMEOUT_S = 60


def select(sources: list[Source], names: Iterable[str]) -> list[Source]:
    """Sources of the named datasets (``gsm8k``, ``alfworld``) or exact paths; all if none named."""
    names = list(names)
    if not names:
        return sources
    datasets = sorted({s.dataset for s in sources})
    chosen: dict[str, Source] = {}
    for name in names:
        hits = [s for s in sources if s.dataset == name or s.path == name]
        if not hits:
            raise ReproError(f"unknown dataset '{name}'{did_you_mean(name, datasets)}; known: {', '.join(datasets)}")
        chosen.update((s.path, s) for s in hits)
    return [chosen[p] for p in sorted(chosen)]


def file_matches(path: Path, src: Source) -> bool:
    if not path.is_file() or (src.bytes is not None and path.stat().st_size != src.bytes):
        return False
    return sha256_file(path) == src.sha256


def _open(url: str, offset: int):
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the partial file already holds every byte
            return None
        raise ReproError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise ReproError(f"cannot download {url}: {getattr(e, 'reason', e)}") from None


def fetch_file(src: Source, dest_root: Path, base_url: str | None = None,
               on_bytes: Callable[[int], None] | None = None) -> str:
    """Put ``src`` at ``dest_root/src.path``; returns 'present' or 'downloaded'.

    Bytes stream into ``<file>.part``; a later call resumes it with an HTTP Range request. The file
    appears under its name only after its sha256 matched (a mismatching download is deleted).
    """
    final = dest_root / src.path
    if file_matches(final, src):
        return "present"
    url = src.url(base_url)
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset)
    if response is not None:
        with response:
            resumed = offset > 0 and response.status == 206
            if not resumed:
                offset = 0
            if on_bytes and offset:
                on_bytes(offset)
            expected = response.headers.get("Content-Length")
            received = 0
            try:
                with open(part, "ab" if resumed else "wb") as f:
                    while chunk := response.read(CHUNK):
                        f.write(chunk)
                        received += len(chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
                    f.flush()
                    os.fsync(f.fileno())
                # http.client returns a short body without raising when the server hangs up early.
                if expected is not None and received < int(expected):
                    raise http.client.IncompleteRead(b"", int(expected) - received)
            except (http.client.HTTPException, OSError) as e:
                raise ReproError(f"download of {src.path} interrupted ({type(e).__name__}); "
                                 f"run the same command again to resume") from None
    got = sha256_file(part)
    if got != src.sha256:
        part.unlink()
        raise ReproError(f"{src.path}: sha256 mismatch (expected {src.sha256[:12]}…, got {got[:12]}…); "
                         f"download from {url} rejected")
    os.replace(part, final)
    return "downloaded"


@dataclass(frozen=True)
class FileCheck:
    source: Source
    status: str  # ok | missing | mismatch | unchecked (quick mode: present, size fits, not hashed)


def check_files(root: Path, sources: list[Source], hash_all: bool = True) -> list[FileCheck]:
    """Each source's state under ``root``. Without ``hash_all``: sizes everywhere, sha256 of the
    first file of each dataset only (``repro doctor``'s quick mode)."""
    hashed_datasets: set[str] = set()
    out = []
    for src in sources:
        path = root / src.path
        if not path.is_file():
            status = "missing"
        elif src.bytes is not None and path.stat().st_size != src.bytes:
            status = "mismatch"
        elif hash_all or src.dataset not in hashed_datasets:
            hashed_datasets.add(src.dataset)
            status = "ok" if sha256_file(path) == src.sha256 else "mismatch"
        else:
            status = "unchecked"
        out.append(FileCheck(src, status))
    return out
