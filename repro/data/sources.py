"""The registry of data files: where each one comes from (repository, commit, path) and its sha256.

The registry is data, committed as ``repro/data/sources.json`` so that ``repro data fetch`` works
on a machine without ``../shared/data``. It is generated from the SOURCES.md / MANIFEST.sha256
files of a data root (``python -m repro.data.sources DATA_ROOT``); a test checks it still matches.

What the generator reads:
* markdown tables with a ``sha256`` and a ``source repo : path`` column (the math sets);
* ```` ``` ```` blocks of ``<sha256>  <path>`` lines under a ``## sha256`` heading, and
  ``MANIFEST.sha256`` files (ALFWorld, WebShop), whose origin is given in prose; ``ORIGINS``
  below transcribes that prose (repository, commit, path prefix).
A file whose checksum is recorded but which no single URL serves (the ALFWorld archives, built
locally from many game files) is in the registry with ``fetchable: false``, so ``check`` covers it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from repro.errors import ReproError

REGISTRY_FILE = Path(__file__).with_name("sources.json")
RAW_GITHUB = "https://raw.githubusercontent.com"

# (path prefix under the data root, repository, commit, path prefix in the repository), from the
# "Where they come from" sections of alfworld/SOURCES.md and webshop/SOURCES.md.
ORIGINS = [
    ("alfworld/json_2.1.1/", "jiangmin8/lz-tool-skillopt", "2db970502b4d3091ed0126ceb4e76ccce367f978", "json_2.1.1/"),
    ("alfworld/logic/", "alfworld/alfworld", "1558ba46d078279ecb4c5d33a6cdffc96714a2d2", "alfworld/data/"),
    ("webshop/items_ins_v2_1000.json", "ZihanWang314/webshop-minimal", "ec82552d2458efb486701b138c9d038e1759489c",
     "webshop_minimal/data/small/items_ins_v2_1000.json"),
    ("webshop/documents_1k.jsonl", "ZihanWang314/webshop-minimal", "ec82552d2458efb486701b138c9d038e1759489c",
     "webshop_minimal/search_engine/resources_1k/documents.jsonl"),
    ("webshop/indexes_1k/", "ZihanWang314/webshop-minimal", "ec82552d2458efb486701b138c9d038e1759489c",
     "webshop_minimal/search_engine/indexes_1k/"),
]
UNFETCHABLE_NOTE = "built locally from many repository files (see its SOURCES.md); no single URL serves it"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Source:
    path: str  # relative to the data root
    sha256: str
    bytes: int | None = None
    repo: str | None = None
    commit: str | None = None
    source_path: str | None = None
    note: str = ""

    @property
    def dataset(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def fetchable(self) -> bool:
        return self.repo is not None

    def url(self, base_url: str | None = None) -> str:
        """``base_url/<path>`` for a mirror of the data root, else the raw GitHub URL at the commit."""
        if base_url:
            return f"{base_url.rstrip('/')}/{self.path}"
        if not self.fetchable:
            raise ReproError(f"{self.path} cannot be downloaded: {self.note}")
        return f"{RAW_GITHUB}/{self.repo}/{self.commit}/{self.source_path}"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_sources(text: str, prefix: str) -> list[Source]:
    """Rows of every markdown table that has sha256 and 'source repo : path' columns."""
    out: list[Source] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        if "sha256" not in header or "source repo : path" not in header:
            continue
        row = dict(zip(header, cells))
        repo, _, source_path = row["source repo : path"].partition(" : ")
        commit = row.get("commit (head) / last changed", "").split("/")[0].strip()
        size = row.get("bytes", "").replace(",", "")
        out.append(Source(prefix + cells[0], row["sha256"], int(size) if size.isdigit() else None,
                          repo.strip(), commit, source_path.strip()))
    return out


def _sha256_lines(text: str, prefix: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and _SHA256.match(parts[0]):
            pairs.append((prefix + parts[1].strip().lstrip("*"), parts[0]))
    return pairs


def _checksum_block(text: str) -> str:
    """The ``` block after a '## sha256' heading, or ''."""
    match = re.search(r"^## sha256\s*\n+```[^\n]*\n(.*?)^```", text, re.S | re.M)
    return match.group(1) if match else ""


def _with_origin(path: str, sha256: str) -> Source:
    for prefix, repo, commit, source_prefix in ORIGINS:
        if path.startswith(prefix):
            return Source(path, sha256, None, repo, commit, source_prefix + path[len(prefix):])
    return Source(path, sha256, note=UNFETCHABLE_NOTE)


def parse_sources(data_root: str | Path) -> list[Source]:
    """Every file whose sha256 the data root's SOURCES.md / MANIFEST.sha256 files record."""
    root = Path(data_root)
    found: dict[str, Source] = {}

    def add(src: Source) -> None:
        old = found.get(src.path)
        if old and old.sha256 != src.sha256:
            raise ReproError(f"{src.path}: two different sha256 recorded ({old.sha256}, {src.sha256})")
        found[src.path] = src

    for doc in sorted(root.rglob("SOURCES.md")):
        prefix = "" if doc.parent == root else doc.parent.relative_to(root).as_posix() + "/"
        text = doc.read_text(encoding="utf-8")
        for src in _table_sources(text, prefix):
            add(src)
        for path, sha in _sha256_lines(_checksum_block(text), prefix):
            add(_with_origin(path, sha))
    for manifest in sorted(root.rglob("MANIFEST.sha256")):
        prefix = manifest.parent.relative_to(root).as_posix() + "/"
        for path, sha in _sha256_lines(manifest.read_text(encoding="utf-8"), prefix):
            add(_with_origin(path, sha))
    return [found[p] for p in sorted(found)]


def load_registry() -> list[Source]:
    return [Source(**row) for row in json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))["files"]]


def registry_json(sources: list[Source]) -> dict:
    return {"generated_by": "python -m repro.data.sources DATA_ROOT", "files": [asdict(s) for s in sources]}


if __name__ == "__main__":
    from repro.io import atomic_write_json

    atomic_write_json(REGISTRY_FILE, registry_json(parse_sources(sys.argv[1])))
    print(f"wrote {REGISTRY_FILE}")
