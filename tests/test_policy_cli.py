"""`repro model ...` through the real CLI entry point, and `repro --help` staying torch-free."""

from __future__ import annotations

import os
import subprocess
import sys


def repro(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from repro.cli.main import main; sys.argv = ['repro', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_help_does_not_import_torch():
    code = ("import sys; from repro.cli.main import app; from typer.main import get_command; "
            "get_command(app).main(['--help'], standalone_mode=False); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("False")


def test_model_info_describes_the_tiny_model(tiny_model_dir):
    out = repro("model", "info", str(tiny_model_dir))
    assert out.returncode == 0, out.stderr
    assert "Qwen3ForCausalLM" in out.stdout and "</think>" in out.stdout
    assert "end-of-think" in out.stdout


def test_model_info_on_a_missing_path_is_one_line(tmp_path):
    out = repro("model", "info", str(tmp_path / "nope"))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: ")
    assert "Traceback" not in out.stderr


def test_build_tiny_builds_then_reuses_the_cached_build(tmp_path):
    env = dict(os.environ, REPRO_CACHE=str(tmp_path))

    def build_tiny() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "repro", "model", "build-tiny"],
                              capture_output=True, text=True, timeout=300, env=env)

    first, second = build_tiny(), build_tiny()
    assert first.returncode == second.returncode == 0, first.stderr
    assert str(tmp_path / "models" / "tiny") in first.stdout and "built in" in first.stdout
    assert "reused" in second.stdout
