"""`repro data fetch/check` against a local HTTP server that serves a copy of the data root."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from repro.data.fetch import check_files, fetch_file, select
from repro.data.sources import load_registry, parse_sources, registry_json
from repro.errors import ReproError
from repro.paths import data_dir

SHARED = data_dir()
SMALL = ["aime2024/test.jsonl", "amc2023/test.jsonl", "alfworld/logic/alfred.pddl"]


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files under ``root`` with HTTP Range support; can cut one response short."""

    root: Path
    cut: dict[str, int] = {}  # url path -> bytes to send before dropping the connection (once)
    ranges: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        header = self.headers.get("Range")
        if header:
            self.ranges.append(f"{self.path} {header}")
            start = int(header.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        cut = self.cut.pop(self.path, None)
        self.wfile.write(data[start:cut] if cut is not None else data[start:])
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(base URL, handler class, mirror dir): a mirror of a few real files from the data root."""
    mirror = tmp_path / "mirror"
    for rel in SMALL:
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED / rel, mirror / rel)
    handler = type("Handler", (RangeHandler,), {"root": mirror, "cut": {}, "ranges": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler, mirror
    httpd.shutdown()
    httpd.server_close()


def _source(rel):
    return next(s for s in load_registry() if s.path == rel)


def test_committed_registry_matches_the_data_roots_sources_files():
    assert registry_json(parse_sources(SHARED))["files"] == registry_json(load_registry())["files"]
    paths = {s.path for s in load_registry()}
    assert {"gsm8k/test.jsonl", "math500/test.jsonl", "alfworld/logic/alfred.twl2", "webshop/documents_1k.jsonl"} <= paths
    assert sum(p.startswith("alfworld/json_2.1.1/valid_") for p in paths) == 274


def test_default_urls_are_raw_github_at_the_pinned_commit():
    src = _source("math500/test.jsonl")
    assert src.url() == ("https://raw.githubusercontent.com/iie-ycx/DEER/"
                         "c9dd19fbffa27f841cfe47502d015b63811b4d1b/data/math/test.jsonl")
    archive = _source("alfworld/json_2.1.1_train.tar.xz")
    assert not archive.fetchable
    with pytest.raises(ReproError, match="cannot be downloaded"):
        archive.url()


def test_fetch_downloads_verifies_and_skips_present_files(server, tmp_path):
    base, _, _ = server
    dest = tmp_path / "data"
    for rel in SMALL:
        assert fetch_file(_source(rel), dest, base) == "downloaded"
        assert (dest / rel).read_bytes() == (SHARED / rel).read_bytes()
        assert fetch_file(_source(rel), dest, base) == "present"
    assert not list(dest.rglob("*.part"))


def test_corrupted_download_is_rejected(server, tmp_path):
    base, _, mirror = server
    corrupt = mirror / "aime2024/test.jsonl"
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit, same size
    corrupt.write_bytes(bytes(data))
    dest = tmp_path / "data"
    with pytest.raises(ReproError, match="sha256 mismatch.*rejected"):
        fetch_file(_source("aime2024/test.jsonl"), dest, base)
    assert not (dest / "aime2024/test.jsonl").exists()
    assert not (dest / "aime2024/test.jsonl.part").exists()


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    base, handler, _ = server
    rel = "aime2024/test.jsonl"
    handler.cut[f"/{rel}"] = 50_000
    dest = tmp_path / "data"
    with pytest.raises(ReproError, match="interrupted.*resume"):
        fetch_file(_source(rel), dest, base)
    assert (dest / f"{rel}.part").stat().st_size == 50_000
    assert not (dest / rel).exists()
    assert fetch_file(_source(rel), dest, base) == "downloaded"
    assert handler.ranges == [f"/{rel} bytes=50000-"]
    assert (dest / rel).read_bytes() == (SHARED / rel).read_bytes()


def test_select_by_dataset_or_path_and_unknown_names():
    sources = load_registry()
    assert [s.path for s in select(sources, ["gsm8k"])] == ["gsm8k/test.jsonl", "gsm8k/train.jsonl"]
    assert [s.path for s in select(sources, ["math500/test.jsonl"])] == ["math500/test.jsonl"]
    with pytest.raises(ReproError, match="did you mean 'gsm8k'"):
        select(sources, ["gsm8"])


def test_check_reports_ok_missing_and_mismatch(tmp_path):
    root = tmp_path / "data"
    sources = [_source(rel) for rel in SMALL]
    shutil.copytree(SHARED / "aime2024", root / "aime2024")
    (root / "amc2023").mkdir()
    (root / "amc2023/test.jsonl").write_bytes((SHARED / "amc2023/test.jsonl").read_bytes()[:-1] + b"X")
    assert [c.status for c in check_files(root, sources)] == ["ok", "mismatch", "missing"]


def _repro(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, **kwargs)


def test_cli_fetch_then_check(server, tmp_path):
    base, _, _ = server
    dest = tmp_path / "data"
    fetched = _repro("data", "fetch", "aime2024", "amc2023", "--dest", str(dest), "--base-url", base)
    assert fetched.returncode == 0, fetched.stderr
    assert "2 downloaded" in fetched.stdout
    missing = _repro("data", "fetch", "math500", "--dest", str(dest), "--base-url", base)
    assert missing.returncode == 2 and "HTTP 404" in missing.stderr and "Traceback" not in missing.stderr
    checked = _repro("data", "check", "--data-dir", str(dest))
    assert checked.returncode == 2
    assert checked.stderr.startswith("error:") and len(checked.stderr.strip().splitlines()) == 1
    shared = _repro("data", "check")
    assert shared.returncode == 0 and "all 288 files match" in shared.stdout


def test_doctor_passes_here_and_fails_without_data(tmp_path):
    ok = _repro("doctor")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "math-verify" in ok.stdout
    bad = _repro("doctor", env={**os.environ, "REPRO_DATA": str(tmp_path / "nowhere")})
    assert bad.returncode == 1 and "data root" in bad.stderr
