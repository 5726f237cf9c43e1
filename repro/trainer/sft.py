"""``repro sft``: a supervised warm start on expert demonstrations, so RL starts from a policy that
emits well-formed actions. On a CPU this is how a user sees learning at all: a tiny model
sampling from random weights never produces ``<think>…</think><action>…</action>`` and never earns a
reward, so every group is all-zero and every advantage is 0.

Demonstrations come from the real envs: the env's scripted expert (ALFWorld: the game's stored
walkthrough; WebShop: the oracle shopper; maze: a shortest path) plays ``episodes`` training tasks
inside the env workers, then its actions are replayed step by step through the env pool, parsed
from the target reply as the rollout loop parses a model's (so lower-cased, docs/gigpo.md §2.4), so every
step has the exact ``(task, observation, admissible actions, history)`` the rollout loop would see
and only episodes the replay wins are kept (``successful_only``).

``demo_policy=random successful_only=false`` is the *format-only* warm start: uniformly random
admissible actions in the same reply format, so the model learns to emit well-formed replies that
name an admissible action but not which one is good; RL then starts near the random baseline with
few invalid steps and has the whole task left to learn (the CPU learning study,
benchmarks/learning/). An expert warm start instead leaves RL little to show or nothing to learn.

A math task that generates its own demonstrations (``arith``: :meth:`repro.envs.arith.Arith.demonstration`)
is warmed up the same way with one row per problem: ``episodes`` problems drawn (with replacement,
from ``seed``) from its train split, the prompt rendered as the math trainer renders it
(``task.messages`` + the chat template) and the target the task's whole response text
(``<think>…</think>`` and the boxed answer). ``demo_policy``, ``successful_only``, ``think`` and
``rollout`` are the agent envs' and are not used there.

Each agent step becomes one row: the prompt ids are rendered exactly as :mod:`repro.rollout` renders them
(``env.render_prompt`` + the policy's chat template, history included) and the target reply is
``<think>{think}</think><action>{action}</action>`` followed by the end-of-turn token.

Loss: next-token cross-entropy on the reply tokens only (prompt tokens are context), averaged over
every reply token of an optimiser batch; the log-probs are :func:`repro.policy.logprobs.response_logprobs`,
the same computation the sampler and the PPO update use. AdamW, gradient clipping, ``epochs`` over
the rows (or a fixed number of ``steps``).

Run directory ``results/<run>/``: ``config.yaml``, ``demos.json`` (the demonstrations, reused by a
re-run with the same demonstration settings), ``metrics.jsonl`` (loss per optimiser step),
``model/`` (a Hugging Face directory, tokenizer included, written atomically: usable as
``model.path=results/<run>/model`` for ``repro train`` and ``repro eval``) and ``results.json``.
A re-run retrains from ``model.path`` (seconds for the tiny model) and replaces ``model/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Optional

from repro.config import ModelConfig, load_config, peek_value
from repro.envs import ENVS
from repro.errors import ReproError
from repro.io import atomic_write_json, atomic_write_jsonl
from repro.policy import load_policy
from repro.progress import Counter, log_line
from repro.results.schema import Metric, Results, model_info
from repro.rollout.config import RolloutConfig

DEMOS = "demos.json"
METRICS = "metrics.jsonl"
MODEL = "model"
EXPERT_NAMES = ("expert", "oracle")  # the env's demonstrator when ``demo_policy`` is not given


@dataclass
class SFTConfig:
    command: str = "sft"
    env: Any = None  # the env's own config dataclass, chosen by env.name
    model: ModelConfig = field(default_factory=ModelConfig)  # the starting weights
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    # scripted policy that demonstrates: "" = the env's expert/oracle; "random" = uniform over the
    # admissible actions, a format-only warm start (teaches the reply format, not the task)
    demo_policy: str = ""
    split: str = ""  # "" = the env's training split
    episodes: int = 64  # demonstration episodes (tasks drawn with ``seed``)
    successful_only: bool = True  # drop demonstrations that did not solve their task
    think: str = "I pick the action that moves me closer to the goal."  # the short reasoning text
    epochs: int = 1
    steps: int = 0  # optimiser steps; 0 = ``epochs`` passes over the rows
    batch_rows: int = 16  # rows per optimiser step
    micro_batch_rows: int = 8  # rows per forward/backward (gradient accumulation)
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    run_name: Optional[str] = None  # default: sft-<env>
    results_dir: str = "results"
    data_dir: Optional[str] = None

    def validate(self, prefix: str = "") -> None:
        for key in ("episodes", "epochs", "batch_rows", "micro_batch_rows"):
            if getattr(self, key) < 1:
                raise ReproError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.steps < 0:
            raise ReproError(f"steps must be >= 0 (0 = epochs over the rows), got {self.steps}")
        if self.lr <= 0 or self.grad_clip <= 0 or self.weight_decay < 0:
            raise ReproError("lr and grad_clip must be > 0, weight_decay >= 0")


def build_sft_config(env: Optional[str], config_file: Optional[Path], overrides: list[str]) -> SFTConfig:
    env_name = env or peek_value("env.name", config_file, overrides)
    if not env_name:
        raise ReproError("no env given: pass --env NAME (see `repro ls envs`)")
    kind = ENVS.entry(env_name).meta.get("kind")
    if kind != "agent" and not (kind == "math" and has_demonstrations(ENVS.get(env_name))):
        raise ReproError(f"env '{env_name}' has no demonstrations; `repro sft` warms up alfworld, webshop, maze or arith")
    overrides = [o for o in overrides if not o.startswith("env.name=")]
    cfg = load_config(SFTConfig(env=ENVS.get(env_name).Config()), config_file, overrides)
    cfg.env.name = env_name
    if cfg.command != "sft":
        raise ReproError(f"config {config_file} is for '{cfg.command}', not 'sft'")
    return cfg


def has_demonstrations(task_cls: type) -> bool:
    """A math task that generates its own target responses (overrides ``MathTask.demonstration``)."""
    from repro.envs.math import MathTask

    return issubclass(task_cls, MathTask) and task_cls.demonstration is not MathTask.demonstration


def is_math(cfg: SFTConfig) -> bool:
    return ENVS.entry(cfg.env.name).meta.get("kind") == "math"


def expert_name(env_cls: type, requested: str) -> str:
    if requested:
        return requested
    for name in EXPERT_NAMES:
        if name in env_cls.SCRIPTED_POLICIES:
            return name
    raise ReproError(f"env {env_cls.__name__} has no expert policy; pass demo_policy=NAME")


# ---- demonstrations ---------------------------------------------------------------------------


def demos_key(cfg: SFTConfig) -> dict[str, Any]:
    """What the demonstrations depend on (a cached demos.json is reused only when this matches)."""
    env = asdict(cfg.env) if is_dataclass(cfg.env) else dict(cfg.env)
    return {"env": env, "demo_policy": cfg.demo_policy, "split": cfg.split, "episodes": cfg.episodes,
            "successful_only": cfg.successful_only, "seed": cfg.seed}


def collect_math_demos(cfg: SFTConfig, task_cls: type) -> list[dict[str, Any]]:
    """``episodes`` problems of the train split drawn with replacement from ``seed``, each
    ``{"task", "success", "messages", "response"}`` with the task's own demonstration as the response."""
    import random

    task = task_cls(cfg.env, cfg.data_dir)
    problems = task.problems(cfg.split or "train")
    rng = random.Random(cfg.seed)
    demos = []
    for _ in range(cfg.episodes):
        problem = problems[rng.randrange(len(problems))]
        demos.append({"task": problem.id, "success": True, "messages": task.messages(problem),
                      "response": task.demonstration(problem, rng)})
    return demos


def collect_demos(cfg: SFTConfig, env_cls: type) -> list[dict[str, Any]]:
    """Expert episodes on training tasks, each ``{"task", "success", "steps": [{task_text,
    observation, admissible_actions, action}]}`` with every step as the rollout loop sees it."""
    from repro.rollout import EnvPool, run_scripted

    split = cfg.split or env_cls.TRAIN_SPLIT
    tasks = env_cls(cfg.env, cfg.data_dir).sample_tasks(split, cfg.episodes, cfg.seed)
    expert = expert_name(env_cls, cfg.demo_policy)
    with EnvPool(env_cls, cfg.env, cfg.rollout, data_dir=cfg.data_dir) as pool:
        records = run_scripted(pool, expert, [(t, {}) for t in tasks], seed=cfg.seed)
        failed = [r.failed for r in records if r.failed]
        if failed:
            raise ReproError(f"{len(failed)} demonstration episode(s) failed: {failed[0]}")
        demos = replay(pool, [(r.task, [as_projected(cfg.think, s["action"], env_cls) for s in r.trace])
                              for r in records])
    kept = [d for d in demos if d["success"] or not cfg.successful_only]
    if not kept:
        raise ReproError(f"the '{expert}' policy solved none of the {len(demos)} demonstration tasks")
    return kept


def as_projected(think: str, action: str, env_cls: type) -> str:
    """The action as the rollout loop would send it after parsing the target reply (lower-cased,
    docs/gigpo.md §2.4): that is what the env executes and what later prompts show in the history."""
    from repro.rollout import project_action

    return project_action(format_reply(think, action), env_cls.ACTION_FALLBACK_CHARS)[0]


def replay(pool: Any, episodes: list[tuple[Any, list[str]]]) -> list[dict[str, Any]]:
    """Step recorded action lists through the pool (all episodes at once), recording what the
    rollout loop would see before each action and whether the episode was won."""
    demos = [{"task": task, "success": False, "steps": []} for task, _ in episodes]
    for eid, (task, _) in enumerate(episodes):
        pool.reset(eid, task)
    outstanding = len(episodes)
    while outstanding:
        for res in pool.wait():
            if not res.ok:
                raise ReproError(f"replaying demonstration {episodes[res.eid][0]!r} failed: {res.value}")
            obs, info = res.value if res.kind == "reset" else (res.value[0], res.value[3])
            demo, actions = demos[res.eid], episodes[res.eid][1]
            if res.kind == "step" and res.value[2] or len(demo["steps"]) == len(actions):
                demo["success"] = bool(info["won"])
                outstanding -= 1
                continue
            action = actions[len(demo["steps"])]
            demo["steps"].append({"task_text": info["task"], "observation": obs,
                                  "admissible_actions": info["admissible_actions"], "action": action})
            pool.step(res.eid, action)
    return demos


def load_or_collect_demos(cfg: SFTConfig, env_cls: type, run_path: Path) -> list[dict[str, Any]]:
    import json

    path = run_path / DEMOS
    key = demos_key(cfg)
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("key") == json.loads(json.dumps(key)):
            return cached["episodes"]
    episodes = collect_math_demos(cfg, env_cls) if is_math(cfg) else collect_demos(cfg, env_cls)
    atomic_write_json(path, {"key": key, "episodes": episodes})
    return episodes


def format_reply(think: str, action: str) -> str:
    """The target reply in the paper's format (docs/gigpo.md §2.3-2.4)."""
    return f"<think>{think}</think><action>{action}</action>"


def end_of_turn_id(policy: Any) -> int:
    """The token that ends an assistant turn: ChatML's ``<|im_end|>`` when the tokenizer has it."""
    from repro.policy.hf import single_token_id

    token_id = single_token_id(policy.tokenizer, "<|im_end|>")
    return token_id if token_id is not None else policy.stop_ids[0]


def math_demo_rows(episodes: list[dict[str, Any]], policy: Any) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids + end of turn) per math demonstration, prompted as the math trainer does."""
    end = end_of_turn_id(policy)
    return [(policy.chat_prompt(d["messages"]), policy.tokenizer.encode(d["response"], add_special_tokens=False) + [end])
            for d in episodes]


def demo_rows(episodes: list[dict[str, Any]], env_cls: type, env_cfg: Any, policy: Any,
              think: str) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, reply ids) per demonstration step, prompts rendered as the rollout loop does."""
    end = end_of_turn_id(policy)
    rows = []
    for episode in episodes:
        history: list[tuple[str, str]] = []
        for k, s in enumerate(episode["steps"]):
            text = env_cls.render_prompt(env_cfg, s["task_text"], s["observation"], s["admissible_actions"], history, k)
            prompt = policy.chat_prompt([{"role": "user", "content": text}])
            if len(prompt) > env_cfg.max_prompt_tokens:
                raise ReproError(f"demonstration prompt of {len(prompt)} tokens (task {episode['task']!r}, "
                                 f"step {k + 1}) exceeds env.max_prompt_tokens={env_cfg.max_prompt_tokens}")
            reply = policy.tokenizer.encode(format_reply(think, s["action"]), add_special_tokens=False)
            rows.append((prompt, reply + [end]))
            history.append((s["observation"], s["action"]))
    return rows


# ---- training -----------------------------------------------------------------------------------


def reply_nll(model: Any, prompts: list[list[int]], replies: list[list[int]], pad_id: int):
    """(summed negative log-likelihood of the reply tokens, their count); prompts are context only."""
    from repro.policy.logprobs import response_logprobs

    logprobs, mask = response_logprobs(model, prompts, replies, 1.0, pad_id)
    return -(logprobs * mask).sum(), int(mask.sum())


def batches(n_rows: int, cfg: SFTConfig) -> list[list[int]]:
    """Row indices per optimiser step: seeded shuffles, one per epoch, cut into ``batch_rows``;
    with ``steps`` > 0 the epochs repeat until that many batches exist."""
    import torch

    out: list[list[int]] = []
    epoch = 0
    while (cfg.steps and len(out) < cfg.steps) or (not cfg.steps and epoch < cfg.epochs):
        order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch)).tolist()
        out += [order[i:i + cfg.batch_rows] for i in range(0, n_rows, cfg.batch_rows)]
        epoch += 1
    return out[:cfg.steps] if cfg.steps else out


def train_rows(policy: Any, rows: list[tuple[list[int], list[int]]], cfg: SFTConfig,
               on_step: Any = None) -> list[float]:
    """Supervised updates of ``policy.model`` in place; returns the loss (mean reply-token NLL) per step."""
    import torch

    model = policy.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = []
    for step, batch in enumerate(batches(len(rows), cfg), 1):
        tokens = sum(len(rows[i][1]) for i in batch)
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for start in range(0, len(batch), cfg.micro_batch_rows):
            micro = [rows[i] for i in batch[start:start + cfg.micro_batch_rows]]
            nll, _ = reply_nll(model, [p for p, _ in micro], [r for _, r in micro], policy.pad_id)
            (nll / tokens).backward()
            total += float(nll.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        losses.append(total / tokens)
        if on_step:
            on_step(step, losses[-1], tokens)
    model.eval()
    return losses


def save_model(model: Any, tokenizer: Any, target: Path) -> None:
    """``save_pretrained`` (weights, config, tokenizer) into a temp dir beside ``target``, then swap
    it in, so a reader never sees a half-written model directory."""
    from repro.policy.transformers_logging import quiet_progress

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with quiet_progress():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_sft(cfg: SFTConfig, fresh: bool = False, show_progress: bool = True) -> Path:
    """Demonstrations -> supervised training -> ``<run>/model``; returns the run directory."""
    import dataclasses

    import torch

    from repro.results.run_dir import METRICS_SCHEMA_VERSION, RunDir

    env_cls = ENVS.get(cfg.env.name)
    run_dir = RunDir.create(cfg.results_dir, cfg.run_name or f"sft-{cfg.env.name}", cfg)
    if fresh:
        (run_dir.path / DEMOS).unlink(missing_ok=True)
    if show_progress:
        log_line("collecting demonstrations")
    episodes = load_or_collect_demos(cfg, env_cls, run_dir.path)
    torch.manual_seed(cfg.seed)
    policy = load_policy(cfg.model)
    math = is_math(cfg)
    rows = math_demo_rows(episodes, policy) if math else demo_rows(episodes, env_cls, cfg.env, policy, cfg.think)
    n_steps = len(batches(len(rows), cfg))
    lines: list[dict[str, Any]] = []
    with Counter("sft", n_steps, "optimiser steps") if show_progress else contextlib.nullcontext() as counter:

        def on_step(step: int, loss: float, tokens: int) -> None:
            lines.append({"schema_version": METRICS_SCHEMA_VERSION, "step": step, "loss": loss, "reply_tokens": tokens})
            if counter is not None:
                counter.advance(1, note=f"loss {loss:.3f}")

        losses = train_rows(policy, rows, cfg, on_step)
    atomic_write_jsonl(run_dir.path / METRICS, lines)
    save_model(policy.model, policy.tokenizer, run_dir.path / MODEL)
    exported = model_info(str(run_dir.path / MODEL), run_dir.path / MODEL, "hf")
    run_dir.write_results(Results(
        kind="sft", env=cfg.env.name, split=cfg.split or ("train" if math else env_cls.TRAIN_SPLIT),
        metrics={"first_loss": Metric(losses[0]), "final_loss": Metric(losses[-1])},
        model=model_info(cfg.model.path, getattr(policy, "model_dir", None), cfg.model.backend),
        seeds={"seed": cfg.seed, "derivation": "demonstration tasks and row shuffles from seed"},
        counts={"demo_episodes": len(episodes), "demo_rows": len(rows), "steps": len(losses)},
        details={"demo_policy": f"{cfg.env.name}.demonstration" if math else expert_name(env_cls, cfg.demo_policy),
                 "exported_model": dataclasses.asdict(exported)},
    ))
    return run_dir.path
