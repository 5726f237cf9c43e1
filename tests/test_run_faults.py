"""Faults around a run directory, with real processes: a second process on a held directory is
refused before it touches anything, a lock left by a killed process is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from repro.errors import ReproError
from repro.results.run_dir import LOCK_FILE, run_lock

ROOT = Path(__file__).resolve().parents[1]
MAZE = ROOT / "benchmarks" / "learning" / "maze_grpo.yaml"
# a tiny maze run: 2 mazes x 2 trajectories, the tiny model from scratch
FAST = ["model.path=tiny", "tasks_per_iteration=2", "group_size=2", "eval_every=0"]

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from repro.results.run_dir import run_lock

    with run_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(120)
""")


def repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=ROOT)


def hold_lock(tmp_path: Path, run: Path) -> subprocess.Popen:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(run)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_process_on_a_held_run_directory_is_refused_untouched(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"iteration": 1}\n{"iteration": 2}\n')
    (run / "config.yaml").write_text("first: run\n")
    holder = hold_lock(tmp_path, run)
    try:
        before = {p.name: p.read_bytes() for p in run.iterdir()}
        out = repro("train", "-c", str(MAZE), f"results_dir={tmp_path}", "run_name=run", *FAST, "iterations=1")
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().splitlines() == [
            f"error: run directory {run} is in use by process {holder.pid} (two runs in one directory would mix "
            f"their files); wait for it to end, or pass --run-name NAME"]
        assert {p.name: p.read_bytes() for p in run.iterdir()} == before
        out = repro("eval", "--env", "maze", "--policy", "random", "--limit", "1", f"results_dir={tmp_path}",
                    "--run-name", "run", "--fresh")
        assert out.returncode == 2 and "is in use by process" in out.stderr
        assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    holder = hold_lock(tmp_path, run)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (run / LOCK_FILE).read_text().strip() == str(holder.pid)  # left behind: it had no chance to clean up
    said: list[str] = []
    with run_lock(run, said.append):
        assert (run / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(ReproError, match=f"in use by process {os.getpid()}"):
            with run_lock(run):  # a second holder, even in the same process, is refused
                pass
    assert said == [f"run directory {run}: taking over the lock of process {holder.pid}, which is gone"]
    assert not (run / LOCK_FILE).exists()  # released: nothing left to take over


def test_training_takes_over_a_stale_lock_and_runs(tmp_path):
    run = tmp_path / "run"
    holder = hold_lock(tmp_path, run)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    start = time.monotonic()
    out = repro("train", "-c", str(MAZE), f"results_dir={tmp_path}", "run_name=run", *FAST, "iterations=1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"taking over the lock of process {holder.pid}, which is gone" in out.stdout
    assert (run / "results.json").is_file() and not (run / LOCK_FILE).exists()
    assert time.monotonic() - start < 120


def _file_size_limit(limit: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    return apply


def test_an_eval_whose_samples_do_not_fit_is_one_line_and_leaves_no_temp_file(tmp_path):
    """A real limit on the real process (RLIMIT_FSIZE: writes past 4 KiB fail with EFBIG, as a
    full disk fails with ENOSPC): config.yaml fits, samples.jsonl does not."""
    cmd = [sys.executable, "-m", "repro", "eval", "--env", "maze", "--policy", "random", "--limit", "8",
           f"results_dir={tmp_path}", "--run-name", "run"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, preexec_fn=_file_size_limit(4096))
    assert out.returncode == 2, out.stderr[-2000:]
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot write {tmp_path / 'run' / 'samples.jsonl'}: File too large (")
    assert "bytes needed, " in line and "bytes free there" in line
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]  # no temp file, no results.json, no lock
    out = subprocess.run(cmd + ["--fresh"], capture_output=True, text=True, cwd=ROOT)  # the cause gone: it runs
    assert out.returncode == 0, out.stderr[-2000:]
    assert (run / "results.json").is_file()


@pytest.mark.slow
def test_training_resumes_past_a_damaged_pointer_and_checkpoint_or_stops_in_one_line(tmp_path):
    run = tmp_path / "run"
    train = ["train", "-c", str(MAZE), f"results_dir={tmp_path}", "run_name=run", *FAST, "save_every=1"]
    assert repro(*train, "iterations=2").returncode == 0
    checkpoints = run / "checkpoints"
    (checkpoints / "latest").write_bytes(b"\xff\xfe\n")
    tensors = next((checkpoints / "iter_000002").glob("*.distcp"))
    tensors.write_bytes(tensors.read_bytes()[:-4096] + os.urandom(4096))
    out = repro(*train, "iterations=3")
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"checkpoint pointer {checkpoints / 'latest'} is unreadable (UnicodeDecodeError)" in out.stdout
    assert f"checkpoint iter_000002 is damaged: {tensors} does not match its manifest (sha256 differs)" in out.stdout
    assert "resuming from iter_000001, the newest intact checkpoint" in out.stdout
    from repro.io import read_jsonl

    assert [line["iteration"] for line in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]
    for manifest in checkpoints.glob("iter_*/manifest.json"):
        manifest.unlink()
    out = repro(*train, "iterations=4")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: no intact checkpoint in {checkpoints} (") and line.endswith("pass --fresh to start over")
