"""Worker start-up (repro.workers): a driver script without the main guard, which every spawned
worker re-runs, is refused with one clear line by both pools, and ``run_train`` does no work in
such a re-run. Real scripts in subprocesses, real pools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each script prints the ReproError it stops with (its worker's re-run prints one too, first).
UNGUARDED = """
import sys
from repro.errors import ReproError
try:
{body}
except ReproError as e:
    print(f"error: {{e}}")
    sys.exit(2)
"""

POOLS = {
    "verifier": ("    from repro.envs.verify import Check, VerifierPool\n"
                 "    with VerifierPool(workers=1) as pool:\n"
                 "        print(pool.check_all([Check('1', 'so \\\\boxed{1}')]))",
                 "error: a verifier worker failed to start"),
    "env": ("    from repro.envs.maze import MazeEnv\n"
            "    from repro.rollout import EnvPool, RolloutConfig\n"
            "    with EnvPool(MazeEnv, MazeEnv.Config(), RolloutConfig(num_workers=1)) as pool:\n"
            "        print(pool.worker_pids())",
            "error: an env worker for MazeEnv failed to start"),
}
TRAIN = ("    from pathlib import Path\n"
         "    from repro.trainer.config import build_train_config\n"
         "    from repro.trainer.run import run_train\n"
         "    cfg = build_train_config('grpo', 'gsm8k', Path(sys.argv[1]), [f'results_dir={sys.argv[2]}', 'iterations=1'])\n"
         "    run_train(cfg, fresh=True)")


def run_script(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "driver.py"
    script.write_text(UNGUARDED.format(body=body))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_a_pool_refuses_a_script_without_the_main_guard(tmp_path, pool):
    body, expected = POOLS[pool]
    out = run_script(tmp_path, body)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stdout.splitlines()[-1]
    assert last.startswith(expected) and "`if __name__ == '__main__':` guard" in last


def test_an_unguarded_training_script_is_refused_before_its_workers_touch_the_run(tmp_path, tiny_model_dir):
    config = ROOT / "benchmarks" / "sgrpo" / "cpu" / "gsm8k_grpo.yaml"
    out = run_script(tmp_path, TRAIN, str(config), str(tmp_path / "results"))
    assert out.returncode == 2, out.stderr[-2000:]
    refused, failed = out.stdout.splitlines()
    # the worker's re-run of the script stopped at run_train(), before preparing (wiping) the run directory
    assert refused.startswith("error: run_train() was called while a worker process re-ran the main script")
    assert failed.startswith("error: a verifier worker failed to start")
