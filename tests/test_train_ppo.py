"""PPO with a critic: the clipped value loss, and `repro train --algo ppo` end to end with exact resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro.io import read_jsonl
from repro.trainer.critic import ValueModel, response_values, value_loss
from repro.trainer.metrics import without_timing

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["env.max_steps=2", "sampling.max_new_tokens=8", "eval_every=0", "tasks_per_iteration=2", "save_every=1"]


def test_value_loss_is_clipped_as_verl_does():
    returns = torch.tensor([[1.0, 1.0]])
    old = torch.tensor([[0.0, 0.0]])
    mask = torch.ones(1, 2)
    # inside the clip range: plain 0.5·MSE
    loss, clipped = value_loss(torch.tensor([[0.2, 0.4]]), old, returns, mask, value_clip=0.5)
    assert loss.item() == pytest.approx(0.5 * (0.8 ** 2 + 0.6 ** 2) / 2) and clipped.item() == 0
    # a value that overshoots past the clip range is judged at its clipped value when that is worse
    values = torch.tensor([[2.0, 0.2]], requires_grad=True)
    loss, clipped = value_loss(values, old, torch.tensor([[0.2, 1.0]]), mask, value_clip=0.5)
    assert loss.item() == pytest.approx(0.5 * ((2.0 - 0.2) ** 2 + 0.8 ** 2) / 2) and clipped.item() == 0
    loss, clipped = value_loss(torch.tensor([[-2.0, 0.2]]), old, torch.tensor([[-3.0, 1.0]]), mask, value_clip=0.5)
    assert loss.item() == pytest.approx(0.5 * ((-0.5 + 3.0) ** 2 + 0.8 ** 2) / 2) and clipped.item() == 0.5


def test_critic_reads_the_state_before_each_response_token(tiny_model_dir):
    from repro.config import ModelConfig
    from repro.policy import load_policy

    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    critic = ValueModel.from_causal_lm(policy.model)
    prompt, response = [5, 6, 7], [8, 9]
    with torch.no_grad():
        values = response_values(critic, [prompt, [4] + prompt], [response, response + [10]], policy.pad_id)
        alone = critic(torch.tensor([prompt + response]), torch.ones(1, 5, dtype=torch.long), torch.arange(5)[None], keep=5)
    # V of response token t is the value at the position that predicts it (prompt end, then token 8)
    assert values[0, :2].tolist() == pytest.approx(alone[0, 2:4].tolist(), abs=1e-5) and values[0, 2] == 0
    assert values.shape == (2, 3) and values[1, 2] != 0
    # the critic is a copy: training it leaves the policy's weights alone
    assert not any(p is q for p in critic.parameters() for q in policy.model.parameters())


def repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=ROOT)


def test_ppo_trains_checkpoints_the_critic_and_resumes_exactly(tmp_path, tiny_model_dir):
    base = ["train", "--algo", "ppo", "--env", "alfworld", "-c", str(ROOT / "benchmarks/gigpo/cpu/alfworld_ppo.yaml"),
            f"results_dir={tmp_path}", *SMALL]
    out = repro(*base, "run_name=straight", "iterations=2")
    assert out.returncode == 0, out.stderr[-3000:]
    expected = [without_timing(line) for line in read_jsonl(tmp_path / "straight" / "metrics.jsonl")]
    assert [line["iteration"] for line in expected] == [1, 2]
    for line in expected:
        assert line["episodes"] == 2 and line["value_loss"] > 0 and line["critic_grad_norm"] > 0
        # GAE advantages whitened over the batch's tokens
        assert line["advantage_mean"] == pytest.approx(0, abs=1e-5) and line["advantage_std"] == pytest.approx(1, abs=0.1)
    assert expected[0]["value_mean"] != expected[1]["value_mean"]  # the critic learned between iterations
    metadata = (tmp_path / "straight" / "checkpoints" / "iter_000002" / ".metadata").read_bytes()
    assert b"critic.value_head.weight" in metadata and b"critic_optim" in metadata

    assert repro(*base, "run_name=resumed", "iterations=1").returncode == 0
    out = repro(*base, "run_name=resumed", "iterations=2")
    assert out.returncode == 0 and "(iteration 1)" in out.stdout, out.stderr[-3000:]
    assert [without_timing(line) for line in read_jsonl(tmp_path / "resumed" / "metrics.jsonl")] == expected
