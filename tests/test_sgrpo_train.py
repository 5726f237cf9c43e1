"""`repro train` on math envs (S-GRPO, GRPO, RL + length penalty) with the real tiny model and
real GSM8K train problems: iterations, checkpoints, exact resume, and the loss mask in the update."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repro.io import read_jsonl
from repro.trainer.metrics import without_timing

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "benchmarks" / "sgrpo" / "cpu"


def repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


def train(results: Path, name: str, algo: str, *extra: str) -> subprocess.CompletedProcess:
    return repro("train", "--algo", algo, "--env", "gsm8k", "-c", str(CPU / f"gsm8k_{algo}.yaml"),
                 f"results_dir={results}", f"run_name={name}", *extra)


def test_sgrpo_two_iterations_checkpoint_and_resume(tmp_path, tiny_model_dir):
    out = train(tmp_path, "straight", "sgrpo")
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "straight"
    lines = read_jsonl(run / "metrics.jsonl")
    assert [line["iteration"] for line in lines] == [1, 2]
    for line in lines:
        assert line["groups"] == 2 and line["kept_groups"] == 2 and line["kept_fraction"] == 1.0
        assert line["rows"] == 2 * 9 and line["exits_per_group"] == 8  # serial groups of 8 exits + O⁰
        assert 0 <= line["thought_not_closed_rate"] <= 1 and line["optimizer_steps"] == 1
        # the inducer (19 tokens with the tiny tokenizer) is masked out of every exit
        assert line["trained_tokens"] == line["response_tokens"] - 16 * 19
        assert line["logprob_mismatch_max"] < 1e-4
    assert "val_accuracy" in lines[1] and len(read_jsonl(run / "validation" / "iter_000002.jsonl")) == 4
    assert (run / "checkpoints" / "latest").read_text().strip() == "iter_000002"
    for iteration in (1, 2):
        samples = read_jsonl(run / "samples" / f"iter_00000{iteration}.jsonl")
        assert len(samples) == 18 and {s["exit_index"] for s in samples} == set(range(9))
    # a math run's console shows its own accuracy and tokens (validation where it validated), not agent columns
    header, first, second = out.stdout[out.stdout.index("iter   acc"):].splitlines()[:3]
    assert header.split() == ["iter", "acc", "tokens", "exit", "kept", "loss", "clip", "lpΔ", "val", "acc", "val",
                              "tok", "s/it"]
    assert first.split()[8:10] == ["-", "-"] and second.split()[8] == f"{lines[1]['val_accuracy']:.2f}"

    resumed = tmp_path / "resumed"
    assert train(tmp_path, "resumed", "sgrpo", "iterations=1").returncode == 0
    out = train(tmp_path, "resumed", "sgrpo", "iterations=2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(iteration 1)" in out.stdout  # resumed from the checkpoint, not restarted
    assert [without_timing(x) for x in read_jsonl(resumed / "metrics.jsonl")] == [without_timing(x) for x in lines]


@pytest.mark.parametrize("algo", ["grpo", "length_penalty"])
def test_parallel_baselines_run_on_the_same_trainer(tmp_path, tiny_model_dir, algo):
    out = train(tmp_path, "run", algo, "eval_every=0")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [line["iteration"] for line in lines] == [1, 2]
    for line in lines:  # 2 queries x group_size 4 full responses, all trained
        assert line["rows"] == 8 and line["exits_per_group"] == 0 and line["trained_tokens"] == line["response_tokens"]
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == "iter_000002"


def test_train_on_inducer_trains_every_token(tmp_path, tiny_model_dir):
    out = train(tmp_path, "run", "sgrpo", "iterations=1", "eval_every=0", "math.serial.train_on_inducer=true")
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert line["trained_tokens"] == line["response_tokens"]


@pytest.mark.parametrize("args, message", [
    (["--algo", "gigpo", "--env", "gsm8k"], "does not train on math envs"),
    (["--algo", "sgrpo", "--env", "gsm8k", "math.oversample=0.5"], "math.oversample"),
    (["--algo", "sgrpo", "--env", "gsm8k", "math.serial.exits=0"], "math.serial.exits"),
    (["--algo", "sgrpo", "--env", "gsm8k", "math.train_file=/nonexistent.jsonl"], "does not exist"),
])
def test_bad_math_train_input_is_one_line(args, message):
    out = repro("train", *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_every_sgrpo_benchmark_config_validates():
    from repro.trainer.config import build_train_config

    configs = sorted((ROOT / "benchmarks" / "sgrpo").rglob("*.yaml"))
    # the arith study's configs (issue 15) also hold its sft / eval / exit-curve runs; only training configs here
    training = [p for p in configs if yaml.safe_load(p.read_text()).get("command", "train") == "train"]
    assert len(training) == 9
    for path in training:
        cfg = build_train_config(None, None, path, [])
        assert cfg.loss.kl_coef == 0 and cfg.loss.aggregation == "seq-mean-token-mean"
        if path.stem.startswith("arith"):
            assert cfg.run_name == path.stem.replace("_", "-")
        else:
            assert cfg.run_name == ("cpu-" if path.parent.name == "cpu" else "") + path.stem


def test_masked_tokens_carry_no_gradient(tiny_model_dir):
    """The update's loss ignores masked (inducer) tokens: their old log-probs do not change it."""
    from repro.config import ModelConfig
    from repro.policy import load_policy
    from repro.trainer.loss import LossOptions
    from repro.trainer.update import UpdateBatch, causal_lm_scorer, micro_batch_loss

    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    prompt, response = [5, 6, 7], [10, 11, 12, 13, 14, 15]
    logprobs = policy.score([prompt], [response])[0]
    mask = [True, True, False, False, True, True]
    options = LossOptions(kl_coef=0.0, entropy_coef=0.0, aggregation="seq-mean-token-mean")

    def loss(old):
        batch = UpdateBatch([prompt], [response], [old], [1.0], loss_masks=[mask])
        return micro_batch_loss(policy.model, None, causal_lm_scorer(policy.pad_id), batch, [0], options, 1.0,
                                float(sum(mask)), 1)[0].loss.item()

    shifted_masked = [lp - (0.0 if m else 3.0) for lp, m in zip(logprobs, mask)]
    shifted_trained = [lp - (3.0 if m else 0.0) for lp, m in zip(logprobs, mask)]
    assert loss(shifted_masked) == pytest.approx(loss(logprobs))
    assert loss(shifted_trained) != pytest.approx(loss(logprobs))
    assert loss(logprobs) == pytest.approx(-1.0)  # ratio 1 on the 4 trained tokens, A = 1


def test_sgrpo_update_moves_the_policy_towards_the_rewarded_member(tiny_model_dir):
    """A serial group whose full rollout is correct and whose 4 exits are wrong (Eq. 1: rewards
    0,0,0,0,1; advantages −1/5 and 4/5): one Eq. 2 step raises the full response's log-prob and
    lowers the exits' answers, through the real update with the inducer masked."""
    import numpy as np
    import torch

    from repro.algos import ALGOS
    from repro.config import ModelConfig, SamplingConfig
    from repro.envs.math import MathProblem
    from repro.envs.verify import VerifierPool
    from repro.policy import load_policy
    from repro.policy.base import Generation
    from repro.rollout.serial import SerialConfig, build_exits, check_groups
    from repro.trainer.advantages import assign_rewards
    from repro.trainer.config import eq2_loss
    from repro.trainer.update import UpdateBatch, causal_lm_scorer, ppo_epoch

    torch.manual_seed(0)
    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    problem = MathProblem("t/0", "What is 3 + 4?", "7")
    prompt = policy.chat_prompt([{"role": "user", "content": problem.problem}])
    tok = policy.tokenizer
    ids = tok.encode("<think>three and four make seven</think>\n\nSo \\boxed{7}.", add_special_tokens=False)
    ids.append(tok.eos_token_id)
    full = Generation(prompt, ids, policy.score([prompt], [ids])[0], tok.decode(ids), "stop")
    (group,) = build_exits(policy, [problem], [prompt], [full], [[1, 2, 3, 4]], SamplingConfig(),
                           SerialConfig(answer_max_tokens=6), seed=0)
    with VerifierPool(workers=1) as pool:
        check_groups([group], policy, pool)
    assign_rewards([group], ALGOS.get("sgrpo"))
    assert [m.reward for m in group.members] == [0, 0, 0, 0, 1]  # the random model's exits are not correct
    assert group.full.advantage == pytest.approx(0.8)

    members = group.members
    batch = UpdateBatch([prompt] * 5, [m.response_ids for m in members], [m.logprobs for m in members],
                        [m.advantage for m in members], loss_masks=[m.loss_mask for m in members])
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=1e-2)
    stats = ppo_epoch(policy.model, None, optimizer, causal_lm_scorer(policy.pad_id), batch, list(range(5)),
                      eq2_loss(), 1.0, 5, 5, 1.0)
    assert stats["optimizer_steps"] == 1 and stats["grad_norm"] > 0
    after = policy.score([prompt] * 5, [m.response_ids for m in members])
    full_gain = np.sum(after[-1]) - np.sum(members[-1].logprobs)
    answer_gain = [np.sum(a[m.answer_start:]) - np.sum(m.logprobs[m.answer_start:]) for a, m in zip(after, members[:-1])]
    assert full_gain > 0 and np.mean(answer_gain) < 0


def test_train_on_a_local_jsonl_and_on_math_train(tmp_path, tiny_model_dir):
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "What is 2 + 2?", "answer": "4"}\n{"problem": "What is 3 + 3?", "answer": "6"}\n'
                    '{"question": "What is 1 + 5?", "answer": 6}\n')
    out = train(tmp_path, "file", "sgrpo", "iterations=1", "eval_every=0", f"math.train_file={data}")
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = read_jsonl(tmp_path / "file" / "metrics.jsonl")
    assert len(line["tasks"]) == 2 and all(t.startswith("file/") for t in line["tasks"])
    out = repro("train", "--algo", "sgrpo", "--env", "math_train", "-c", str(CPU / "gsm8k_sgrpo.yaml"),
                f"results_dir={tmp_path}", "run_name=mt", "iterations=1", "eval_every=0")
    assert out.returncode == 0, out.stderr[-3000:]
    assert read_jsonl(tmp_path / "mt" / "metrics.jsonl")[0]["groups"] == 2


def test_filter_groups_oversamples_and_drops_groups_without_a_correct_exit(tmp_path, tiny_model_dir):
    out = train(tmp_path, "run", "sgrpo", "iterations=1", "eval_every=0", "math.filter_groups=true", "math.oversample=2")
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    # 2 x 2 queries rolled out; the random model has no correct exit, so every group is dropped
    assert line["groups"] == 4 and line["groups_with_correct_exit"] == 0.0
    assert line["kept_groups"] == 0 and line["kept_fraction"] == 0.0 and line["optimizer_steps"] == 0
    assert (tmp_path / "run" / "checkpoints" / "latest").is_file()
