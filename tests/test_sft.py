"""`repro sft`: demonstrations on the real envs, prompts identical to the rollout loop's, reply-only
loss on the real tiny model, a loadable saved model, one-line config errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from repro.config import ModelConfig, SamplingConfig
from repro.envs import ENVS
from repro.errors import ReproError
from repro.policy import load_policy
from repro.policy.base import Generation
from repro.rollout import EnvPool, RolloutConfig, collect_groups
from repro.trainer.sft import (
    build_sft_config, collect_demos, demo_rows, end_of_turn_id, format_reply, reply_nll, run_sft, train_rows,
)


class TeacherForcing:
    """The real tiny policy whose replies are looked up by prompt ids: the rollout loop can only
    follow the demonstration if it renders exactly the prompts SFT trained on."""

    def __init__(self, policy, rows):
        self.policy, self.tokenizer = policy, policy.tokenizer
        self.replies = {tuple(p): r for p, r in rows}

    def chat_prompt(self, messages):
        return self.policy.chat_prompt(messages)

    def sample(self, prompts, sampling, seeds=None):
        out = []
        for p in prompts:
            reply = self.replies[tuple(p)]  # KeyError = a prompt SFT never saw
            out.append(Generation(list(p), list(reply), [0.0] * len(reply),
                                  self.tokenizer.decode(reply[:-1], skip_special_tokens=False), "stop"))
        return out


def _cfg(env: str, tmp_path, *extra: str):
    return build_sft_config(env, None, [f"results_dir={tmp_path}", "rollout.num_workers=1", *extra])


@pytest.mark.parametrize("env,extra", [("webshop", ["episodes=3"]), ("alfworld", ["episodes=1"]),
                                       ("maze", ["episodes=4"])])
def test_demo_prompts_are_the_rollout_prompts(env, extra, tiny_model_dir, tmp_path):
    cfg = _cfg(env, tmp_path, *extra)
    env_cls = ENVS.get(env)
    demos = collect_demos(cfg, env_cls)
    assert demos and all(d["success"] for d in demos)
    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    rows = demo_rows(demos, env_cls, cfg.env, policy, cfg.think)
    assert len(rows) == sum(len(d["steps"]) for d in demos)
    # the reply is the paper's format, ended by the end-of-turn token
    first_reply = policy.tokenizer.decode(rows[0][1][:-1], skip_special_tokens=False)
    assert first_reply == format_reply(cfg.think, demos[0]["steps"][0]["action"])
    assert rows[0][1][-1] == end_of_turn_id(policy)

    with EnvPool(env_cls, cfg.env, RolloutConfig(num_workers=1), data_dir=None) as pool:
        rollout = collect_groups(pool, TeacherForcing(policy, rows), [d["task"] for d in demos], 1,
                                 SamplingConfig(seed=0))
    assert [r.prompt_ids for r in rollout.rows] == [p for p, _ in rows]
    assert all(e.success for e in rollout.episodes) and all(r.valid for r in rollout.rows)


def test_loss_covers_exactly_the_reply_tokens(tiny_model_dir):
    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    prompts = [policy.chat_prompt([{"role": "user", "content": "a long prompt " * 5}]),
               policy.chat_prompt([{"role": "user", "content": "short"}])]
    replies = [policy.tokenizer.encode(format_reply("go", "go north"), add_special_tokens=False),
               policy.tokenizer.encode(format_reply("x", "click[buy now]"), add_special_tokens=False)[:5]]
    with torch.no_grad():
        nll, count = reply_nll(policy.model, prompts, replies, policy.pad_id)
        expected = 0.0
        for p, r in zip(prompts, replies):  # one unpadded sequence at a time, no helper involved
            logits = policy.model(input_ids=torch.tensor([p + r])).logits[0].float()
            logp = torch.log_softmax(logits[len(p) - 1:-1], -1)
            expected -= float(logp.gather(-1, torch.tensor(r).unsqueeze(-1)).sum())
    assert count == sum(len(r) for r in replies)
    assert float(nll) == pytest.approx(expected, rel=1e-4)
    # prompt tokens carry no loss: their gradient path is context only
    prompts[0][1] = (prompts[0][1] + 1) % 100
    with torch.no_grad():
        assert reply_nll(policy.model, prompts, replies, policy.pad_id)[1] == count


def test_loss_decreases_on_real_demonstrations(tiny_model_dir, tmp_path):
    cfg = _cfg("webshop", tmp_path, "episodes=2", "steps=6", "batch_rows=4", "micro_batch_rows=2", "lr=3e-3")
    env_cls = ENVS.get("webshop")
    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    rows = demo_rows(collect_demos(cfg, env_cls), env_cls, cfg.env, policy, cfg.think)
    losses = train_rows(policy, rows, cfg)
    assert len(losses) == 6
    assert losses[-1] < losses[0] - 1.0, losses


def test_saved_model_loads_generates_and_trains(tiny_model_dir, tmp_path):
    cfg = _cfg("maze", tmp_path, f"model.path={tiny_model_dir}", "episodes=4", "steps=3", "run_name=warm")
    path = run_sft(cfg, show_progress=False)
    assert (path / "demos.json").is_file() and (path / "results.json").is_file()
    assert not [p for p in path.iterdir() if p.name.startswith(".model")]  # no temp dir left behind
    demos_mtime = (path / "demos.json").stat().st_mtime_ns
    policy = load_policy(ModelConfig(path=str(path / "model"), device="cpu"))
    prompt = policy.chat_prompt([{"role": "user", "content": "You are an agent in a maze."}])
    (gen,) = policy.sample([prompt], SamplingConfig(temperature=1.0, max_new_tokens=8, seed=1))
    assert 1 <= len(gen.response_ids) <= 8
    # the trained weights differ from the start, the tokenizer came along
    start = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    assert policy.tokenizer.get_vocab() == start.tokenizer.get_vocab()
    assert not torch.equal(next(policy.model.parameters()), next(start.model.parameters()))
    # a re-run reuses the cached demonstrations and replaces the model directory
    run_sft(cfg, show_progress=False)
    assert (path / "demos.json").stat().st_mtime_ns == demos_mtime
    from repro.trainer.config import build_train_config
    train_cfg = build_train_config("grpo", "maze", None, [f"model.path={path / 'model'}"])
    assert train_cfg.model.path == str(path / "model")


def test_bad_config_is_one_line_error(tmp_path):
    with pytest.raises(ReproError, match="unknown config key 'stepz'"):
        _cfg("maze", tmp_path, "stepz=3")
    with pytest.raises(ReproError, match="batch_rows must be >= 1"):
        _cfg("maze", tmp_path, "batch_rows=0")
    with pytest.raises(ReproError, match="has no demonstrations"):
        build_sft_config("gsm8k", None, [])
    with pytest.raises(ReproError, match="unknown scripted policy"):
        collect_demos(_cfg("maze", tmp_path, "demo_policy=oracle", "episodes=1"), ENVS.get("maze"))
    proc = subprocess.run([sys.executable, "-m", "repro", "sft", "--env", "maze", "lr=-1"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: lr and grad_clip must be > 0, weight_decay >= 0"]
