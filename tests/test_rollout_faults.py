"""Faults during a model rollout on the real maze env and the real tiny model: a worker killed
mid-rollout fails only the episode it was serving, and every other episode samples exactly what
it samples in a crash-free run (each reply has its own seed); a worker whose parent dies exits
without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import repro
from repro.config import ModelConfig, SamplingConfig
from repro.envs.maze import MazeConfig, MazeEnv
from repro.rollout import EnvPool, RolloutConfig, collect_groups

TASKS = ["5000", "5001", "5002"]
GROUP = 2
SAMPLING = SamplingConfig(max_new_tokens=16, seed=11)


class KillsAWorker:
    """The real policy; at sample call ``at_call`` it stops env worker 0, so the steps that call
    sends queue on a frozen worker, and kills it a moment later, with one of its steps in flight."""

    def __init__(self, policy, pool: EnvPool, at_call: int):
        self.policy, self.pool, self.at_call, self.calls = policy, pool, at_call, 0
        self.killed: int | None = None

    def sample(self, prompts, sampling, seeds=None):
        self.calls += 1
        if self.calls == self.at_call:
            self.killed = self.pool.worker_pids()[0]
            os.kill(self.killed, signal.SIGSTOP)
            threading.Timer(0.5, os.kill, (self.killed, signal.SIGKILL)).start()
        return self.policy.sample(prompts, sampling, seeds)

    def __getattr__(self, name):
        return getattr(self.policy, name)


def _drawn(episode):
    return [(t["reply"], t["action"]) for t in episode.trace]


def test_a_killed_worker_fails_one_episode_and_leaves_the_others_draws(tiny_model_dir):
    from repro.policy import load_policy

    policy = load_policy(ModelConfig(path=str(tiny_model_dir)))
    cfg = MazeConfig(max_steps=4)
    rollout_cfg = RolloutConfig(num_workers=2, pipeline_stages=1)
    with EnvPool(MazeEnv, cfg, rollout_cfg) as pool:
        clean = collect_groups(pool, policy, TASKS, GROUP, SAMPLING)
    with EnvPool(MazeEnv, cfg, rollout_cfg) as pool:
        killer = KillsAWorker(policy, pool, at_call=2)
        crashed = collect_groups(pool, killer, TASKS, GROUP, SAMPLING)
        assert pool.restarts == 1 and killer.killed not in pool.worker_pids()
    failed = [e for e in crashed.episodes if e.failed]
    assert len(failed) == 1 and "killed by SIGKILL" in failed[0].failed and "exit code None" not in failed[0].failed
    assert all(e.steps == 4 for e in clean.episodes)  # the random model never escapes: all run to the cap
    for ok, e in zip(clean.episodes, crashed.episodes):
        if e.failed is None:
            assert _drawn(e) == _drawn(ok) and e.episode_return == ok.episode_return
    survivors = {e.traj for e in crashed.episodes if e.failed is None}
    assert [(r.traj, r.step, r.response_ids) for r in crashed.rows] == \
           [(r.traj, r.step, r.response_ids) for r in clean.rows if r.traj in survivors]
    clean_logprobs = {(r.traj, r.step): r.logprobs for r in clean.rows}
    for r in crashed.rows:  # other batch shapes: float32 rounding of the logits only
        assert r.logprobs == pytest.approx(clean_logprobs[r.traj, r.step], abs=1e-5)


ORPHAN_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from repro.envs.maze import MazeConfig, MazeEnv
    from repro.rollout import EnvPool, RolloutConfig

    if __name__ == "__main__":
        pool = EnvPool(MazeEnv, MazeConfig(), RolloutConfig(num_workers=1))
        print(pool.worker_pids()[0], flush=True)
        time.sleep(60)
""")


def test_an_orphaned_worker_exits_quietly_when_its_parent_is_killed(tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN_SCRIPT)
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "w") as err:
        parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=err, text=True,
                                  env={**os.environ, "PYTHONPATH": str(Path(repro.__file__).parents[1])})
        worker = int(parent.stdout.readline())
        parent.kill()
        parent.wait()
        deadline = 50
        while deadline and _alive(worker):
            threading.Event().wait(0.1)
            deadline -= 1
    assert not _alive(worker)
    assert "Traceback" not in stderr.read_text() and "EOFError" not in stderr.read_text()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped by init) counts as gone
        return f.read().split(")")[-1].split()[0] != "Z"
