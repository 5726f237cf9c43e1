"""The kill-anywhere battery (issue 18): SIGKILL `repro train` (trainer and env workers, the whole
process group) on the maze CPU config, again and again, at random moments and inside checkpoint
writes, resuming each time; then compare the survivor with an uninterrupted run of the same config:
every metrics line (timing aside), every samples and validation file, and the exported model's
files must be bit-identical.

    .venv/bin/python bench/kill_anywhere.py [--kills 10] [--seed 0] [--keep DIR]

Prints one line per kill, then
``kill_anywhere kills=<n> in_checkpoint_write=<k> identical=<true|false> seconds=<s>``
and the differences, if any (exit 1). Kill ``i`` lands in iteration ``i + 1``: even ``i`` the moment
that iteration's checkpoint directory (``iter_N.tmp``) appears, plus 0-20 ms (inside the DCP write);
odd ``i`` a uniform 0-1.5 s after the previous iteration's metrics line (rollout, update, the
metrics append, the checkpoint, whichever is running then). ``tests/test_kill_anywhere.py`` runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
MAZE = ROOT / "benchmarks" / "learning" / "maze_grpo.yaml"
# 2 mazes x 2 trajectories per iteration with the tiny model; a checkpoint every iteration, a
# validation every 3rd (its files are compared too)
SETTINGS = ["model.path=tiny", "tasks_per_iteration=2", "group_size=2", "save_every=1", "eval_every=3",
            "validation.episodes=2", "keep_checkpoints=2"]


def train_command(results: Path, name: str, iterations: int) -> list[str]:
    return [sys.executable, "-m", "repro", "train", "-c", str(MAZE), f"results_dir={results}", f"run_name={name}",
            f"iterations={iterations}", *SETTINGS]


def metrics_lines(run: Path) -> int:
    try:
        return (run / "metrics.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def checkpoint_in_progress(run: Path, iteration: int) -> bool:
    return (run / "checkpoints" / f"iter_{iteration:06d}.tmp").is_dir()


def run_and_kill(command: list[str], trigger: Callable[[], bool], delay_s: float, timeout_s: float = 300) -> bool:
    """Start ``command``; once ``trigger()`` holds, wait ``delay_s`` and SIGKILL its process group.
    False if the run ended first (nothing was killed)."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + timeout_s
        while not trigger():
            if proc.poll() is not None:
                if proc.returncode != 0:
                    raise RuntimeError(f"training failed (rc {proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
                return False
            if time.monotonic() > deadline:
                raise RuntimeError("training made no progress before the timeout")
            time.sleep(0.002)
        time.sleep(delay_s)
        if proc.poll() is not None:
            return False
        os.killpg(proc.pid, signal.SIGKILL)
        return True
    finally:
        proc.wait()
        proc.stderr.close()


def file_hashes(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def differences(straight: Path, survivor: Path) -> list[str]:
    from repro.io import read_jsonl
    from repro.trainer.metrics import without_timing

    out = []
    ours = [without_timing(line) for line in read_jsonl(survivor / "metrics.jsonl")]
    theirs = [without_timing(line) for line in read_jsonl(straight / "metrics.jsonl")]
    if ours != theirs:
        bad = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        out.append(f"metrics.jsonl differs from line {bad + 1} ({len(ours)} vs {len(theirs)} lines)")
    for directory in ("samples", "validation", "model"):
        a, b = file_hashes(survivor / directory), file_hashes(straight / directory)
        if a != b:
            names = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))
            out.append(f"{directory}/ differs: {', '.join(names[:5])}")
        if not a:
            out.append(f"{directory}/ is empty")
    return out


def battery(work: Path, kills: int, seed: int, log: Callable[[str], None] = print) -> dict:
    """Run the battery in ``work``; returns {kills, in_checkpoint_write, differences, seconds}."""
    start = time.monotonic()
    rng = random.Random(seed)
    iterations = kills + 2
    done = subprocess.run(train_command(work, "straight", iterations), cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {done.stderr[-2000:]}")
    run = work / "killed"
    command = train_command(work, "killed", iterations)
    landed = in_checkpoint = 0
    for i in range(kills):
        iteration = i + 1
        if i % 2 == 0:
            killed = run_and_kill(command, lambda: checkpoint_in_progress(run, iteration), rng.uniform(0, 0.02))
            where = f"inside the checkpoint write of iteration {iteration}"
            in_checkpoint += killed and not (run / "checkpoints" / f"iter_{iteration:06d}").is_dir()
        else:
            delay = rng.uniform(0, 1.5)
            killed = run_and_kill(command, lambda: metrics_lines(run) >= iteration - 1, delay)
            where = f"{delay:.2f} s into iteration {iteration}"
        landed += killed
        log(f"kill {i + 1}: {where}: {'killed' if killed else 'missed (the run ended first)'}; "
            f"metrics lines {metrics_lines(run)}")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise RuntimeError(f"the final resume failed: {done.stderr[-2000:]}")
    return {"kills": landed, "in_checkpoint_write": in_checkpoint,
            "differences": differences(work / "straight", run), "seconds": time.monotonic() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = battery(work, args.kills, args.seed)
    identical = not result["differences"]
    print(f"kill_anywhere kills={result['kills']} in_checkpoint_write={result['in_checkpoint_write']} "
          f"identical={str(identical).lower()} seconds={result['seconds']:.0f}")
    for line in result["differences"]:
        print(f"  {line}")
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main()
