"""The trainer under real torch.distributed (gloo, 2 CPU ranks, FSDP2) against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro.io import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "dist_update_worker.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args],
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600)


@pytest.fixture(scope="module")
def one_and_two_ranks(tmp_path_factory, tiny_model_dir):
    """The same update on the same rows: in one process and on two FSDP2 ranks."""
    out = tmp_path_factory.mktemp("dist")
    two = torchrun(str(WORKER), str(out / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, str(WORKER), str(out / "one")], capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert one.returncode == 0, one.stderr[-3000:]
    return out / "one", out / "two"


def test_first_update_on_two_ranks_equals_one_process(one_and_two_ranks):
    one, two = (json.loads((d / "stats.json").read_text()) for d in one_and_two_ranks)
    assert (one["world"], two["world"]) == (1, 2)
    assert one["stats"]["optimizer_steps"] == two["stats"]["optimizer_steps"] == 1
    for key in ("loss", "policy_loss", "entropy", "grad_norm"):
        assert two["stats"][key] == pytest.approx(one["stats"][key], rel=1e-4, abs=1e-6), key
    assert one["stats"]["loss"] != 0  # the batch carries signal: the check compares something
    # the summed gradients moved the weights alike, so the updated model scores the rows alike
    w1, w2 = (torch.load(d / "weights.pt", weights_only=True) for d in one_and_two_ranks)
    assert w1.keys() == w2.keys()
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-5
    for a, b in zip(one["logprobs"], two["logprobs"]):
        assert a == pytest.approx(b, abs=1e-4)


def test_two_rank_checkpoint_loads_on_one_rank(one_and_two_ranks, tiny_model_dir):
    import copy

    sys.path.insert(0, str(WORKER.parent))
    from dist_update_worker import make_optimizer

    from repro.config import ModelConfig
    from repro.policy import load_policy
    from repro.trainer.checkpoint import latest_checkpoint, load_checkpoint

    _, two = one_and_two_ranks
    path = latest_checkpoint(two / "checkpoints")
    assert sorted(p.name for p in path.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    model = copy.deepcopy(load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu")).model)
    optimizer = make_optimizer(model)
    saved = torch.load(two / "weights.pt", weights_only=True)
    assert any(not torch.equal(saved[k], v) for k, v in model.state_dict().items())  # not yet the trained weights
    assert load_checkpoint(path, model, optimizer) == {"iteration": 1, "world": 2}
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k  # resharded onto one rank bit for bit
    assert all("momentum_buffer" in s for s in optimizer.state.values()) and len(optimizer.state) > 0


@pytest.mark.slow
def test_repro_train_on_two_ranks_resumes_on_one(tmp_path, tiny_model_dir):
    args = ["-m", "repro", "train", "-c", str(ROOT / "benchmarks" / "gigpo" / "cpu" / "alfworld_gigpo_std.yaml"),
            f"results_dir={tmp_path}", "run_name=run", "env.max_steps=3", "sampling.max_new_tokens=16", "eval_every=0"]
    two = torchrun(*args, "iterations=1")
    assert two.returncode == 0, two.stderr[-3000:]
    run = tmp_path / "run"
    assert json.loads((run / "results.json").read_text())["counts"]["world_size"] == 2
    (first,) = read_jsonl(run / "metrics.jsonl")
    # both ranks' groups are in the one metrics line and the iteration's samples: 2 tasks x 2 trajectories
    assert first["episodes"] == 4 and len(first["tasks"]) == 2 and first["optimizer_steps"] >= 1
    assert sorted(e["traj"] for e in read_jsonl(run / "samples" / "iter_000001.jsonl")) == [0, 1, 2, 3]
    assert first["logprob_mismatch_max"] < 1e-4  # the sampler's copy got the same weights as the shards

    one = subprocess.run([sys.executable, *args, "iterations=2"], capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "resumed from checkpoint" in one.stdout and "(iteration 1)" in one.stdout
    lines = read_jsonl(run / "metrics.jsonl")
    assert [line["iteration"] for line in lines] == [1, 2] and lines[0] == first
    assert lines[1]["logprob_mismatch_max"] < 1e-4


def test_nproc_reruns_the_same_command_under_torchrun():
    from repro.trainer.distributed import rank_seed, rank_share, torchrun_argv

    assert torchrun_argv("py", ["train", "--nproc", "4", "-c", "x.yaml", "--nproc=2", "iterations=3"], 4) == [
        "py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4", "-m", "repro",
        "train", "-c", "x.yaml", "iterations=3"]
    # whole groups per rank, every group exactly once; rank 0 keeps the single-process seed
    from repro.trainer.distributed import Dist

    shares = [rank_share(list(range(6)), Dist(rank=r, world=3)) for r in range(3)]
    assert shares == [[0, 3], [1, 4], [2, 5]]
    assert rank_seed(123, 0) == 123 and len({rank_seed(123, r) for r in range(8)}) == 8
