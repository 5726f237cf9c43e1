"""Atomic result files: whole or absent, never half-written, with the permissions open() would give."""

from __future__ import annotations

import os
import stat

import pytest

from repro.io import atomic_write_bytes, atomic_write_json, atomic_write_png, atomic_write_text


def test_atomic_files_get_the_mode_open_would_give(tmp_path):
    atomic_write_text(tmp_path / "a.md", "table\n")
    with open(tmp_path / "b.md", "w") as f:
        f.write("table\n")
    mode = stat.S_IMODE(os.stat(tmp_path / "a.md").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "b.md").st_mode)
    assert mode & stat.S_IRGRP  # mkstemp's 0600 would hide results from the group


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_json(target, {"ok": 1})
    with pytest.raises(TypeError):  # fails inside the write, after the temp file exists
        atomic_write_bytes(target, "not bytes")
    assert target.read_text() == '{\n  "ok": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_png_is_written_whole(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    atomic_write_png(tmp_path / "curve.png", fig, dpi=50)
    plt.close(fig)
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]
