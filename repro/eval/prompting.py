"""ReAct and Reflexion: the prompting baselines of GiGPO Table 1 (docs/gigpo.md §6.1), for ``repro eval``
on the agent envs (``prompting.style=react|reflexion``; ``plain`` is the paper's own prompt, the
"Qwen2.5 (prompting)" row, run by :func:`repro.rollout.collect_groups`).

* **ReAct** (Yao et al. 2023): a reply is one *turn*, either a thought (``<think>…</think>``, no env
  step: the agent sees the same observation again, its thought now in the prompt) or an action
  (``<action>…</action>``). The prompt shows the last ``env.history_length`` steps with the thoughts
  before each action, as ReAct's trajectory interleaves them.
* **Reflexion** (Shinn et al. 2023): ReAct trials of one task; after a failed trial the model is
  asked for a self-reflection on it (the last ``reflection_turns`` turns and the outcome), which is
  kept in a memory of the ``memory`` most recent reflections and shown in every prompt of the next
  trial; at most ``trials`` trials. An episode's success and score are its last trial's.

What the GiGPO paper leaves unspecified (no code was released for these rows, docs/gigpo.md §5) and we
chose: zero-shot prompts (ReAct and Reflexion used two task-specific exemplars, which the paper
does not list), ``max_thoughts`` = 1 thought before each action, so thoughts take no env step and
``env.max_steps`` bounds the actions exactly as for the plain prompt, 3 trials and a memory of 3
(Reflexion's bound on its memory). The prompt texts are the files of ``repro/prompts/``.

Replies come from the model or, for tests and pipeline checks, from :class:`ScriptedReplier`
(``policy=random``: one fixed thought, then a uniformly random admissible action).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from repro.errors import ReproError
from repro.rollout.loop import reply_seed
from repro.rollout.pool import EnvPool, Result
from repro.rollout.prompt import contains_cjk, project_action
from repro.rollout.scripted import finish_record
from repro.rollout.types import EpisodeRecord

PROMPT_DIR = Path(__file__).resolve().parents[1] / "prompts"
STYLES = ("plain", "react", "reflexion")
PROMPTED_POLICIES = ("model", "random")  # where replies can come from under react / reflexion
_THOUGHT = re.compile(r"<think>(.*?)</think>", re.S | re.I)


@dataclass
class PromptingConfig:
    style: str = "plain"  # plain (the paper's prompt) | react | reflexion
    max_thoughts: int = 1  # thought turns in a row before a reply must act (a thought takes no env step)
    trials: int = 3  # reflexion: trials per task, the first included
    memory: int = 3  # reflexion: the most recent reflections shown in the next trial's prompts
    reflection_turns: int = 10  # reflexion: last turns of the failed trial the reflection prompt shows

    def validate(self, prefix: str = "prompting") -> None:
        if self.style not in STYLES:
            raise ReproError(f"{prefix}.style must be one of {', '.join(STYLES)}, got '{self.style}'")
        for name in ("max_thoughts", "memory"):
            if getattr(self, name) < 0:
                raise ReproError(f"{prefix}.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("trials", "reflection_turns"):
            if getattr(self, name) < 1:
                raise ReproError(f"{prefix}.{name} must be >= 1, got {getattr(self, name)}")


def prompt_text(name: str) -> str:
    return (PROMPT_DIR / f"{name}.txt").read_text()


def env_intro(env_name: str) -> str:
    path = PROMPT_DIR / f"intro_{env_name}.txt"
    if not path.is_file():
        known = sorted(p.stem.removeprefix("intro_") for p in PROMPT_DIR.glob("intro_*.txt"))
        raise ReproError(f"ReAct/Reflexion prompting has no role line for env '{env_name}' ({path} is missing); "
                         f"envs with one: {', '.join(known)}")
    return path.read_text().strip()


@dataclass(frozen=True)
class Turn:
    kind: str  # thought | action
    text: str  # the thought, or the action sent to the env
    valid: bool


def parse_turn(reply: str, fallback_chars: int, may_think: bool) -> Turn:
    """A ReAct reply -> its turn. ``<action>`` tags make an action (valid without CJK characters);
    else a ``<think>`` block is a thought while ``may_think``; anything else is executed as an
    invalid action, projected as the plain prompt projects a reply without tags (docs/gigpo.md §2.4)."""
    lower = reply.lower()
    if "<action>" in lower and "</action>" in lower:
        action, _ = project_action(reply, fallback_chars)
        return Turn("action", action, not contains_cjk(reply))
    thought = _THOUGHT.search(reply)
    if thought and may_think:
        return Turn("thought", thought.group(1).strip(), True)
    action, _ = project_action(reply, fallback_chars)
    return Turn("action", action, False)


@dataclass
class _Step:
    observation: str
    thoughts: list[str] = field(default_factory=list)
    action: Optional[str] = None


@dataclass
class _Traj:
    record: EpisodeRecord
    eid: int = 0  # the pool episode of the current trial (a fresh one per trial)
    trial: int = 0
    obs: str = ""
    info: dict = field(default_factory=dict)
    steps: list[_Step] = field(default_factory=list)  # this trial's; the last is the current step
    memory: list[str] = field(default_factory=list)
    reflecting: bool = False  # the next reply is this trial's reflection
    pending: bool = True
    finished: bool = False
    trial_return: float = 0.0

    @property
    def thoughts_in_a_row(self) -> int:
        return len(self.steps[-1].thoughts) if self.steps else 0


def _turn_lines(steps: list[_Step], first: int) -> list[str]:
    lines = []
    for i, step in enumerate(steps, start=first):
        lines.append(f"[Observation {i}: '{step.observation}']")
        lines += [f"[Thought: '{t}']" for t in step.thoughts]
        if step.action is not None:
            lines.append(f"[Action {i}: '{step.action}']")
    return lines


def _memory_block(memory: list[str]) -> str:
    if not memory:
        return ""
    return prompt_text("reflexion_memory").format(
        reflections="\n".join(f"[Reflection {i}: '{m}']" for i, m in enumerate(memory, 1)))


def render_turn_prompt(env_cls: type, env_cfg: Any, cfg: PromptingConfig, tr: _Traj, history_steps: int) -> str:
    """The user message of a ReAct turn: role line, task, reflections, the last ``history_steps``
    steps, this step."""
    done = tr.steps[:-1]
    shown = done[-history_steps:] if history_steps > 0 else []
    history = ""
    if shown:
        history = prompt_text("react_history").format(
            steps_taken=len(done), shown=len(shown), turns="\n".join(_turn_lines(shown, len(done) - len(shown) + 1)))
    current = tr.steps[-1]
    thoughts = "".join(f"Your thought at this step: {t}\n" for t in current.thoughts)
    return prompt_text("react").format(
        intro=env_intro(env_cfg.name), task=tr.info["task"], memory=_memory_block(tr.memory), history=history,
        step=len(tr.steps), observation=tr.obs, thoughts=thoughts,
        actions=env_cls.format_actions(tr.info["admissible_actions"]), max_thoughts=cfg.max_thoughts)


def render_reflection_prompt(env_cfg: Any, tr: _Traj, turns: int) -> str:
    """The request for a self-reflection on the trial that just failed, showing its last ``turns`` turns."""
    lines = _turn_lines(tr.steps, 1)[-turns:] if turns > 0 else []
    outcome = f"{len(tr.steps)} step(s), task not completed"
    if "task_score" in tr.info:
        outcome += f", score {tr.info['task_score']:.2f} of 1"
    return prompt_text("reflexion_reflect").format(
        intro=env_intro(env_cfg.name), outcome=outcome, task=tr.info["task"], memory=_memory_block(tr.memory),
        shown=len(lines), turns="\n".join(lines))


def shorter_prompts(render: Callable[[int], str], longest: int) -> tuple[str, ...]:
    """``render(n)`` for n = longest, longest/2, …, 0: the same prompt with ever less history, for a
    model whose context cannot hold the full one (WebShop pages are long; the plain WebShop prompt
    drops its history the same way, docs/gigpo.md §2.3)."""
    counts = []
    n = longest
    while n > 0:
        counts.append(n)
        n //= 2
    return tuple(render(n) for n in counts + [0])


@dataclass(frozen=True)
class ReplyRequest:
    traj: int
    kind: str  # turn | reflection
    prompts: tuple[str, ...]  # the prompt, then shorter versions of it (less history) to fall back on
    admissible_actions: list[str]
    may_think: bool


class ModelReplier:
    """Replies sampled from a policy (:mod:`repro.policy.base`), one batched call per round."""

    def __init__(self, policy: Any, sampling: Any, max_prompt_tokens: int):
        self.policy, self.sampling, self.max_prompt_tokens = policy, sampling, max_prompt_tokens

    def reply(self, requests: list[ReplyRequest], round_index: int) -> list[str]:
        prompts = []
        for r in requests:
            for text in r.prompts:  # the longest that fits
                ids = self.policy.chat_prompt([{"role": "user", "content": text}])
                if len(ids) <= self.max_prompt_tokens:
                    break
            else:
                raise ReproError(f"{r.kind} prompt of {len(ids)} tokens (trajectory {r.traj}) exceeds "
                                 f"env.max_prompt_tokens={self.max_prompt_tokens} even without history; raise it")
            prompts.append(ids)
        # one seed per (trajectory, round), as the rollout loop seeds its replies: a trajectory's draws
        # do not depend on which others are still running
        seeds = [reply_seed(self.sampling.seed, r.traj, round_index) for r in requests]
        return [g.text for g in self.policy.sample(prompts, self.sampling, seeds)]


class ScriptedReplier:
    """No model: one fixed thought before each action, then a uniformly random admissible action
    (seeded per trajectory); a fixed reflection. Shows the turn structure without a model."""

    THOUGHT = "<think>I should choose the admissible action that brings me closer to the task's goal.</think>"
    REFLECTION = "I acted at random and did not complete the task. Next trial I will plan before acting."

    def __init__(self, seed: int):
        self.seed = seed
        self.rngs: dict[int, random.Random] = {}

    def reply(self, requests: list[ReplyRequest], round_index: int) -> list[str]:
        out = []
        for r in requests:
            rng = self.rngs.setdefault(r.traj, random.Random(self.seed * 1_000_003 + r.traj))
            if r.kind == "reflection":
                out.append(self.REFLECTION)
            elif r.may_think:
                out.append(self.THOUGHT)
            else:
                out.append(f"<action>{rng.choice(r.admissible_actions)}</action>")
        return out


def reflection_text(reply: str) -> str:
    """What memory keeps of a reflection reply: the text outside ``<think>`` blocks (all of it if
    that is empty), on one line."""
    outside = _THOUGHT.sub(" ", reply).strip() or reply.strip()
    return " ".join(outside.split())


def run_prompted(pool: EnvPool, replier: Any, tasks: list[Any], group_size: int, cfg: PromptingConfig,
                 on_episode: Optional[Callable[[EpisodeRecord], None]] = None) -> list[EpisodeRecord]:
    """``group_size`` ReAct (or Reflexion) episodes of each task, lock-step: every round one batched
    reply for each unfinished trajectory. Records come back in (task, member) order; their trace
    holds every turn (``turn``: thought | action | reflection, ``trial``); ``steps`` and
    ``invalid_steps`` count env actions over all trials."""
    env_cls, env_cfg = pool.env_cls, pool.env_cfg
    trials = cfg.trials if cfg.style == "reflexion" else 1
    trajs = [_Traj(EpisodeRecord(group=g, traj=g * group_size + m, task=task, policy=cfg.style))
             for g, task in enumerate(tasks) for m in range(group_size)]
    by_eid: dict[int, _Traj] = {}

    def start_trial(tr: _Traj) -> None:
        tr.eid = tr.trial * len(trajs) + tr.record.traj
        by_eid[tr.eid] = tr
        tr.steps, tr.trial_return, tr.reflecting, tr.pending = [], 0.0, False, True
        pool.reset(tr.eid, tr.record.task)

    def finish(tr: _Traj, failed: Optional[str] = None) -> None:
        tr.finished, tr.pending = True, False
        rec = tr.record
        actions = [t for t in rec.trace if t["turn"] == "action"]
        if failed is None:
            finish_record(rec, tr.obs, tr.info)
            rec.episode_return = tr.trial_return
        rec.failed = failed
        # finish_record counts trace entries; thoughts and reflections are not env steps
        rec.steps, rec.invalid_steps = len(actions), sum(not t["valid"] for t in actions)
        if on_episode:
            on_episode(rec)

    def handle(res: Result) -> None:
        tr = by_eid[res.eid]
        if tr.finished:
            return
        if not res.ok:
            finish(tr, res.value)
            return
        tr.pending = False
        if res.kind == "reset":
            tr.obs, tr.info = res.value
            tr.steps.append(_Step(tr.obs))
            return
        obs, reward, done, info = res.value
        entry = tr.record.trace[-1]
        entry["reward"], entry["done"] = float(reward), bool(done)
        tr.trial_return += float(reward)
        tr.obs, tr.info = obs, info
        if not done:
            tr.steps.append(_Step(obs))
        elif info["won"] or tr.trial + 1 >= trials:
            finish(tr)
        else:
            tr.reflecting = True

    for tr in trajs:
        start_trial(tr)
    round_index = 0
    while not all(tr.finished for tr in trajs):
        while any(tr.pending for tr in trajs):
            for res in pool.wait():
                handle(res)
        ready = [tr for tr in trajs if not tr.finished]
        if not ready:
            break
        requests = []
        for tr in ready:
            if tr.reflecting:
                texts = shorter_prompts(lambda n, tr=tr: render_reflection_prompt(env_cfg, tr, n), cfg.reflection_turns)
                requests.append(ReplyRequest(tr.record.traj, "reflection", texts, tr.info["admissible_actions"], False))
            else:
                texts = shorter_prompts(lambda n, tr=tr: render_turn_prompt(env_cls, env_cfg, cfg, tr, n),
                                        env_cfg.history_length)
                requests.append(ReplyRequest(tr.record.traj, "turn", texts, tr.info["admissible_actions"],
                                             tr.thoughts_in_a_row < cfg.max_thoughts))
        for tr, request, reply in zip(ready, requests, replier.reply(requests, round_index)):
            base = {"trial": tr.trial, "observation": tr.obs, "reply": reply}
            if request.kind == "reflection":
                tr.memory = (tr.memory + [reflection_text(reply)])[-cfg.memory:] if cfg.memory else []
                tr.record.trace.append(base | {"turn": "reflection", "action": None, "valid": True})
                tr.trial += 1
                start_trial(tr)
                continue
            turn = parse_turn(reply, env_cls.ACTION_FALLBACK_CHARS, request.may_think)
            entry = base | {"turn": turn.kind, "admissible_actions": tr.info["admissible_actions"], "valid": turn.valid}
            if turn.kind == "thought":
                tr.steps[-1].thoughts.append(turn.text)
                tr.record.trace.append(entry | {"action": None, "reward": 0.0, "done": False})
                continue
            tr.steps[-1].action = turn.text
            tr.record.trace.append(entry | {"action": turn.text})
            tr.pending = True
            pool.step(tr.eid, turn.text)
        round_index += 1
    return [tr.record for tr in trajs]
