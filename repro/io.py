"""Atomic file writes: a reader never sees a half-written result file. A write that fails (no
space left, no permission) leaves no temporary file and raises :class:`ReproError` naming the
path (and, when the disk is full, the bytes needed), so the CLI reports it in one line."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from repro.errors import ReproError

# a full disk, a full quota, the process's file-size limit: "the bytes did not fit"
SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _file_mode() -> int:
    """What open() would give a new file (mkstemp's temp files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def free_bytes(path: Path) -> int | None:
    """Free bytes on the filesystem of ``path`` (or of its nearest existing parent)."""
    for directory in (path, *path.parents):
        if directory.exists():
            return shutil.disk_usage(directory).free
    return None


def space_error(reason: str, path: Path, needed: int) -> ReproError:
    """The one-line error for a write of ``needed`` bytes to ``path`` that did not fit."""
    free = free_bytes(Path(path))
    return ReproError(f"cannot write {path}: {reason} ({needed} bytes needed, "
                      f"{'?' if free is None else free} bytes free there); free some space and run again")


def write_error(e: OSError, path: Path, needed: int) -> ReproError:
    if e.errno in SPACE_ERRNOS:
        return space_error(e.strerror or str(e), path, needed)
    return ReproError(f"cannot write {path}: {e.strerror or e}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise write_error(e, path, len(data)) from e
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def atomic_write_png(path: str | os.PathLike, figure: Any, **savefig_kwargs: Any) -> None:
    """A matplotlib figure as a PNG, written atomically like every other result file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **savefig_kwargs)
    atomic_write_bytes(path, buffer.getvalue())


def append_jsonl(path: str | os.PathLike, row: Any) -> None:
    """Append one line and fsync (metrics logs: a crash loses at most the line being written; a
    failed write is cut back off, so the file ends at its last whole line)."""
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    with open(path, "ab") as f:
        start = f.tell()
        try:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        except OSError as e:
            try:
                f.truncate(start)
            except OSError:
                pass  # the reader drops a partial last line (read_jsonl_prefix)
            raise write_error(e, Path(path), len(line)) from e


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_jsonl_prefix(path: str | os.PathLike) -> tuple[list[Any], str | None]:
    """An append-only log's whole lines, and the partial last line a crash (or a full disk)
    left behind, if any, which is not returned. Damage before the last line raises ReproError."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: b"" unless the last write was cut short
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line.decode("utf-8")))
        except ValueError as e:  # UnicodeDecodeError is one
            if number == len(lines) and not tail.strip():
                return rows, line.decode("utf-8", "replace")
            raise ReproError(f"{path} line {number} is not JSON ({type(e).__name__}); the log is damaged") from e
    if tail.strip():
        try:
            rows.append(json.loads(tail.decode("utf-8")))
            return rows, None  # a whole line that only lacks its newline
        except ValueError:
            return rows, tail.decode("utf-8", "replace")
    return rows, None
