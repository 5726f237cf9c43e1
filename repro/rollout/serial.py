"""Serial-group rollouts for S-GRPO (docs/sgrpo.md §2.2-2.4, §2.13).

For each query: sample one full response O⁰ (phase 1); pick m exit positions uniformly over its
thinking tokens (without replacement, sorted, at least one token kept); for each exit take the
prefix, append the answer inducer and let the *current* policy continue to an answer (phase 2,
every exit of every query in one batched ``sample`` call). The group is ``[O¹ … Oᵐ, O⁰]``:
exits earliest first, the full rollout last (the order Eq. 1 walks).

Token layout of an exit member's response: ``prefix + inducer + continuation``. The inducer's
``</think>`` is the tokenizer's single end-of-think token (checked, never assumed). The prefix
log-probs are O⁰'s recorded ones (same context, same policy); the inducer's are scored, so every
token carries the behaviour policy's log-prob even when it is masked out of the loss.

Answers are checked on the text after the end of thinking: an exit's continuation, the full
rollout's conclusion after its own ``</think>``. A full rollout that never closes its thought
gets the verdict ``thought_not_closed`` (reward 0, docs/sgrpo.md §2.13 item 2) and is not sent to the verifier;
exits are still placed inside the thought it has.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from repro.config.schema import SamplingConfig
from repro.errors import ReproError
from repro.seeding import derive_seed

# docs/sgrpo.md §2.4 (paper Fig. 2 caption and Algorithm 1), verbatim.
INDUCER = "Time is limited, stop thinking and start answering.\n</think>\n\n"
END_OF_THINK = "</think>"
BEGIN_THINK = "<think>"
NOT_CLOSED = "thought_not_closed"  # verdict of a full rollout without </think> (never sent to the verifier)
FULL_ROLLOUT = None  # exit_position of the full rollout O⁰
# SeedSequence purposes: phase 1 sampling, exit positions, phase 2 sampling
_PHASE1, _POSITIONS, _PHASE2 = 0, 1, 2


@dataclass
class SerialConfig:
    """The serial group's settings (docs/sgrpo.md §2.13 defaults)."""

    exits: int = 8  # m: early exits per query; the group has m + 1 members
    answer_max_tokens: int = 1024  # cap on an exit's continuation; a capped exit without a box is wrong
    inducer: str = INDUCER
    train_on_inducer: bool = False  # paper-literal ablation: the forced inducer tokens also get gradient

    def validate(self, prefix: str = "serial") -> None:
        if self.exits < 1:
            raise ReproError(f"{prefix}.exits must be >= 1, got {self.exits}")
        if self.answer_max_tokens < 1:
            raise ReproError(f"{prefix}.answer_max_tokens must be >= 1, got {self.answer_max_tokens}")
        if END_OF_THINK not in self.inducer:
            raise ReproError(f"{prefix}.inducer must contain {END_OF_THINK}")


@dataclass
class SerialMember:
    exit_index: int  # 0..m-1 for the exits in order, m for the full rollout
    exit_position: int | None  # P_i: thinking tokens kept before the inducer; None = full rollout
    response_ids: list[int]  # exit: prefix + inducer + continuation; full rollout: O⁰
    logprobs: list[float]  # behaviour-policy log-prob of every response token
    loss_mask: list[bool]  # which response tokens get gradient
    answer_start: int  # response index where the checked answer text starts
    finish_reason: str
    verdict: str = ""  # repro.envs.verify VERDICTS, or NOT_CLOSED
    extracted: str | None = None
    reward: float = 0.0
    advantage: float = 0.0

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


@dataclass
class SerialGroup:
    problem: Any  # repro.envs.math.MathProblem
    prompt_ids: list[int]
    thinking_tokens: int  # n: thinking tokens of O⁰ (before its </think>, or all of it when unclosed)
    thought_closed: bool
    members: list[SerialMember] = field(default_factory=list)  # exits earliest first, then O⁰

    @property
    def full(self) -> SerialMember:
        return self.members[-1]

    @property
    def exits(self) -> list[SerialMember]:
        return self.members[:-1]

    def any_correct_exit(self) -> bool:
        return any(m.correct for m in self.exits)


@dataclass(frozen=True)
class Thought:
    """Where the thinking of a response lies: ``response[start:end]``."""

    start: int  # 1 when the response opens with the model's own <think> token, else 0
    end: int  # index of </think>, or the response length (minus a final stop token) when unclosed
    closed: bool

    @property
    def tokens(self) -> int:
        return self.end - self.start


def end_of_think_id(tokenizer) -> int:
    from repro.policy.hf import single_token_id

    token_id = single_token_id(tokenizer, END_OF_THINK)
    if token_id is None:
        raise ReproError(f"the tokenizer has no single {END_OF_THINK} token; S-GRPO needs a reasoning model's "
                         f"end-of-think token")
    return token_id


def begin_think_id(tokenizer) -> int | None:
    from repro.policy.hf import single_token_id

    return single_token_id(tokenizer, BEGIN_THINK)


def inducer_ids(tokenizer, inducer: str = INDUCER) -> list[int]:
    """The inducer's tokens; its ``</think>`` must come out as the one end-of-think token."""
    ids = tokenizer.encode(inducer, add_special_tokens=False)
    eot = end_of_think_id(tokenizer)
    if ids.count(eot) != 1:
        raise ReproError(f"inducer {inducer!r} does not tokenize to exactly one {END_OF_THINK} token ({eot})")
    return ids


def find_thought(response_ids: Sequence[int], eot_id: int, think_id: int | None, stop_ids: Sequence[int]) -> Thought:
    start = 1 if think_id is not None and len(response_ids) and response_ids[0] == think_id else 0
    if eot_id in response_ids[start:]:
        return Thought(start, list(response_ids).index(eot_id, start), True)
    end = len(response_ids) - (1 if len(response_ids) and response_ids[-1] in stop_ids else 0)
    return Thought(start, max(start, end), False)


def find_thoughts(policy: Any, generations: Sequence[Any]) -> list[Thought]:
    """The thought of each full response, with the policy tokenizer's own think tokens."""
    eot, think = end_of_think_id(policy.tokenizer), begin_think_id(policy.tokenizer)
    stop_ids = getattr(policy, "stop_ids", [policy.tokenizer.eos_token_id])
    return [find_thought(g.response_ids, eot, think, stop_ids) for g in generations]


def sample_exit_positions(n_thinking: int, m: int, rng: np.random.Generator) -> list[int]:
    """m positions drawn uniformly from 1..n without replacement, sorted (all of them when n ≤ m;
    none for an empty thought)."""
    if n_thinking < 1:
        return []
    chosen = rng.choice(np.arange(1, n_thinking + 1), size=min(m, n_thinking), replace=False)
    return sorted(int(p) for p in chosen)


def fraction_exit_positions(n_thinking: int, fractions: Sequence[float]) -> list[int]:
    """Exits at fixed fractions of the thought (the exit curve), at least one token each."""
    if n_thinking < 1:
        return []
    return [min(n_thinking, max(1, round(f * n_thinking))) for f in fractions]


def exit_loss_mask(prefix_len: int, inducer_len: int, continuation_len: int, train_on_inducer: bool) -> list[bool]:
    """Gradient on prefix + answer; the forced inducer only when ``train_on_inducer`` (docs/sgrpo.md §2.7)."""
    return [True] * prefix_len + [train_on_inducer] * inducer_len + [True] * continuation_len


def build_exits(policy: Any, problems: Sequence[Any], prompts: Sequence[list[int]], full: Sequence[Any],
                positions: Sequence[Sequence[int]], sampling: SamplingConfig, cfg: SerialConfig,
                seed: int) -> list[SerialGroup]:
    """Phase 2 given the full responses (``repro.policy.base.Generation``) and each one's exit
    positions (thinking tokens kept): one batched continuation call for every exit."""
    inducer = inducer_ids(policy.tokenizer, cfg.inducer)
    thoughts = find_thoughts(policy, full)
    for t, ps in zip(thoughts, positions):
        if any(not 1 <= p <= t.tokens for p in ps) or list(ps) != sorted(ps):
            raise ValueError(f"exit positions {list(ps)} are not sorted inside a thought of {t.tokens} tokens")

    exit_prompts, owners = [], []
    for g, (prompt, gen, thought, ps) in enumerate(zip(prompts, full, thoughts, positions)):
        for p in ps:
            exit_prompts.append(list(prompt) + gen.response_ids[:thought.start + p] + inducer)
            owners.append((g, p))
    continuations, inducer_logprobs = [], []
    if exit_prompts:
        answer_sampling = dataclasses.replace(sampling, max_new_tokens=cfg.answer_max_tokens,
                                              seed=derive_seed(seed, _PHASE2, 0))
        continuations = policy.sample(exit_prompts, answer_sampling)
        # The inducer was forced, not sampled: its behaviour log-probs come from scoring.
        inducer_logprobs = policy.score([ep[:-len(inducer)] for ep in exit_prompts], [inducer] * len(exit_prompts),
                                        temperature=sampling.temperature)

    groups = [SerialGroup(problem, list(prompt), t.tokens, t.closed)
              for problem, prompt, t in zip(problems, prompts, thoughts)]
    for (g, p), cont, ind_lp in zip(owners, continuations, inducer_logprobs):
        gen, thought, group = full[g], thoughts[g], groups[g]
        prefix = thought.start + p
        group.members.append(SerialMember(
            exit_index=len(group.members), exit_position=p,
            response_ids=gen.response_ids[:prefix] + inducer + cont.response_ids,
            logprobs=list(gen.logprobs[:prefix]) + list(ind_lp) + list(cont.logprobs),
            loss_mask=exit_loss_mask(prefix, len(inducer), len(cont.response_ids), cfg.train_on_inducer),
            answer_start=prefix + len(inducer), finish_reason=cont.finish_reason))
    for group, gen, thought in zip(groups, full, thoughts):
        group.members.append(SerialMember(
            exit_index=len(group.members), exit_position=FULL_ROLLOUT, response_ids=list(gen.response_ids),
            logprobs=list(gen.logprobs), loss_mask=[True] * len(gen.response_ids),
            answer_start=thought.end + 1 if thought.closed else len(gen.response_ids),
            finish_reason=gen.finish_reason, verdict="" if thought.closed else NOT_CLOSED))
    return groups


def serial_rollout(policy: Any, problems: Sequence[Any], prompts: Sequence[list[int]], sampling: SamplingConfig,
                   cfg: SerialConfig, seed: int) -> list[SerialGroup]:
    """Phase 1 (one full response per query) then phase 2 (m random exits each)."""
    cfg.validate()
    full = policy.sample(list(prompts), dataclasses.replace(sampling, seed=derive_seed(seed, _PHASE1, 0)))
    positions = [sample_exit_positions(t.tokens, cfg.exits, np.random.default_rng(derive_seed(seed, _POSITIONS, i)))
                 for i, t in enumerate(find_thoughts(policy, full))]
    return build_exits(policy, problems, prompts, full, positions, sampling, cfg, seed)


def answer_text(tokenizer, member: SerialMember, stop_ids: Sequence[int]) -> str:
    answer = member.response_ids[member.answer_start:]
    if answer and answer[-1] in stop_ids:
        answer = answer[:-1]
    return tokenizer.decode(answer, skip_special_tokens=False)


def check_groups(groups: Sequence[SerialGroup], policy: Any, pool: Any, on_verdict=None) -> None:
    """Fill every member's verdict through the verifier pool (boxed-only extraction); a full
    rollout that never closed its thought keeps ``thought_not_closed``."""
    from repro.envs.verify import Check

    stop_ids = getattr(policy, "stop_ids", [policy.tokenizer.eos_token_id])
    pending = [m_g for m_g in ((m, g) for g in groups for m in g.members) if m_g[0].verdict != NOT_CLOSED]
    checks = [Check(g.problem.gold, answer_text(policy.tokenizer, m, stop_ids), g.problem.answer_type)
              for m, g in pending]
    for (member, _), verdict in zip(pending, pool.check_all(checks, on_verdict=on_verdict)):
        member.verdict, member.extracted = verdict.status, verdict.extracted


def group_summary(groups: Sequence[SerialGroup]) -> dict[str, float]:
    """Rates a training log needs: unclosed full rollouts, exit and full accuracy, tokens."""
    if not groups:
        return {"groups": 0}
    exits = [m for g in groups for m in g.exits]
    return {
        "groups": len(groups),
        "thought_not_closed_rate": float(np.mean([not g.thought_closed for g in groups])),
        "full_accuracy": float(np.mean([g.full.correct for g in groups])),
        "exit_accuracy": float(np.mean([m.correct for m in exits])) if exits else 0.0,
        "exits_per_group": len(exits) / len(groups),
        "groups_with_correct_exit": float(np.mean([g.any_correct_exit() for g in groups])),
        "full_tokens_mean": float(np.mean([len(g.full.response_ids) for g in groups])),
        "thinking_tokens_mean": float(np.mean([g.thinking_tokens for g in groups])),
        "exit_answer_capped_rate": float(np.mean([m.finish_reason == "length" for m in exits])) if exits else 0.0,
    }


def member_json(group: SerialGroup, member: SerialMember, tokenizer) -> dict[str, Any]:
    """One samples.jsonl row."""
    return {
        "problem_id": group.problem.id, "gold": group.problem.gold, "exit_index": member.exit_index,
        "exit_position": member.exit_position, "thinking_tokens": group.thinking_tokens,
        "thought_closed": group.thought_closed, "tokens": len(member.response_ids),
        "trained_tokens": int(sum(member.loss_mask)), "finish_reason": member.finish_reason,
        "verdict": member.verdict, "extracted_answer": member.extracted, "reward": member.reward,
        "advantage": member.advantage,
        "response": tokenizer.decode(member.response_ids, skip_special_tokens=False),
    }
