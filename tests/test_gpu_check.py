"""bench/gpu_check.sh's CPU dry run where only torch, transformers and their own dependencies can be
imported (as on the lent GPU machine): it must finish without any other package."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
IMAGE_PACKAGES = ("torch", "transformers")  # what the GPU image brings, with their requirements


def requirement_closure(*names: str) -> dict[str, metadata.Distribution]:
    """The installed distributions ``names`` need (their non-extra requirements, recursively)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            found[name] = dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:  # a requirement of another platform: not importable here either
            continue
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def image_site(tmp_path: Path) -> tuple[Path, set[str]]:
    """A site directory of links to those distributions' files alone; and their top-level names."""
    site = tmp_path / "site"
    site.mkdir()
    tops: set[str] = set()
    for dist in requirement_closure(*IMAGE_PACKAGES).values():
        for file in dist.files or []:
            top = file.parts[0]
            if top == ".." or top in tops:  # scripts outside site-packages
                continue
            tops.add(top)
            (site / top).symlink_to(Path(dist.locate_file(top)))
    modules = {t.removesuffix(".py") for t in tops if not t.endswith((".dist-info", ".libs", ".pth"))}
    return site, modules


def test_the_dry_run_needs_nothing_beyond_torch_and_transformers(tmp_path):
    site, modules = image_site(tmp_path)
    assert {"torch", "transformers", "tokenizers", "numpy"} <= modules and "omegaconf" not in modules
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(site),
           "PYTHON": f"{sys.executable} -S"}  # -S: none of this environment's site-packages
    out = subprocess.run([str(ROOT / "bench" / "gpu_check.sh"), "--device", "cpu", "--shape", "tiny", "--tasks", "2",
                          "--group-size", "2", "--max-steps", "2", "--max-new-tokens", "8", "--workers", "1"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    lines = {line.split("=")[0].split()[0]: line for line in out.stdout.splitlines() if line}
    assert "rollout_s=" in lines["phase"] and "update_s=" in lines["phase"]
    # 2 tasks x 2 trajectories x 2 steps (every maze exit is at least 3 moves away)
    assert lines["rows"].startswith("rows=8 ") and "optimizer_steps=1" in lines["rows"]
    imported = set(lines["imported:"].split()[1:])
    assert {"torch", "transformers", "repro"} <= imported
    assert imported <= modules | {"repro", "torchgen", "cython_runtime"}, imported - modules
