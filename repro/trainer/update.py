"""One PPO epoch over the step rows of an iteration (docs/gigpo.md §1 "Update").

Rows are split into mini-batches of ``mini_batch_rows`` (one optimiser step each) and every
mini-batch into micro-batches of ``micro_batch_rows`` (gradient accumulation, bounded memory);
the token-mean is taken over the whole mini-batch, so micro-batching does not change the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from repro.trainer.distributed import Dist, scalar
from repro.trainer.loss import LossOptions, LossTerms, entropy_from_logprobs, policy_loss

SINGLE = Dist()

# (model, prompts, responses, temperature, with_entropy) -> (log-probs [B, L], entropy [B, L] | None);
# padded on the right to the longest response; padding positions are ignored through the mask.
ScoreFn = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]


def causal_lm_scorer(pad_id: int) -> ScoreFn:
    """The trainer's :data:`ScoreFn` for a Hugging Face causal LM, through the policy layer's
    log-prob computation (the same numbers the sampler records)."""
    from repro.policy.logprobs import response_logits, response_logprobs, tempered

    def score(model, prompts, responses, temperature, with_entropy):
        if not with_entropy:
            return response_logprobs(model, prompts, responses, temperature, pad_id)[0], None
        # the entropy bonus needs the whole distribution: one log_softmax serves both terms (and
        # its backward is one node, where logsumexp + softmax took several passes over the vocabulary)
        logits, targets, mask = response_logits(model, prompts, responses, pad_id)
        logprobs = torch.log_softmax(tempered(logits, temperature), dim=-1)
        chosen = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).masked_fill(~mask, 0.0)
        return chosen, entropy_from_logprobs(logprobs).masked_fill(~mask, 0.0)

    return score


@dataclass
class UpdateBatch:
    """The training view of an iteration's step rows (all lists aligned, one entry per row)."""

    prompt_ids: list[list[int]]
    response_ids: list[list[int]]
    old_logprobs: list[list[float]]  # recorded while sampling (the behaviour policy)
    advantages: list[float] | list[list[float]]  # one per row, or one per response token (PPO's GAE)
    # per response token, True = trained; None = every token (S-GRPO masks its forced inducer)
    loss_masks: list[list[bool]] | None = None

    def __len__(self) -> int:
        return len(self.response_ids)

    def trained_tokens(self, row: int) -> int:
        return len(self.response_ids[row]) if self.loss_masks is None else int(sum(self.loss_masks[row]))


def padded(values: Sequence[Sequence[float]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[rows, width] float tensor (right-padded with 0) and its 0/1 mask."""
    out = torch.zeros(len(values), width)
    mask = torch.zeros(len(values), width)
    for i, v in enumerate(values):
        out[i, : len(v)] = torch.tensor(v, dtype=torch.float32)
        mask[i, : len(v)] = 1.0
    return out, mask


def micro_batches(rows: Sequence[int], micro_batch_rows: int, dist: Dist = SINGLE) -> list[list[int]]:
    """``rows`` in chunks of ``micro_batch_rows``. Under FSDP every forward is a collective, so the
    list is padded with empty chunks to the largest count over the ranks; the caller runs an empty
    chunk on any real row with zero weight (its output is discarded)."""
    chunks = [list(rows[i: i + micro_batch_rows]) for i in range(0, len(rows), micro_batch_rows)]
    return chunks + [[] for _ in range(int(dist.max(len(chunks))) - len(chunks))]


def mini_batches(batch: UpdateBatch, order: Sequence[int], mini_batch_rows: int, micro_batch_rows: int,
                 dist: Dist = SINGLE) -> Iterator[tuple[list[list[int]], float, int]]:
    """One item per optimiser step: (micro-batches, trained tokens, rows) of the *global* mini-batch.

    ``mini_batch_rows`` is global (docs/gigpo.md §3); each rank takes its share of its own rows, and every
    rank yields the same number of steps. A mini-batch without trained tokens is skipped (everywhere).
    """
    local = math.ceil(mini_batch_rows / dist.world)
    for step in range(int(dist.max(math.ceil(len(order) / local)))):
        mb = list(order[step * local: (step + 1) * local])
        tokens = dist.sum(float(sum(batch.trained_tokens(i) for i in mb)))
        if tokens == 0:
            continue
        yield micro_batches(mb, micro_batch_rows, dist), tokens, int(dist.sum(len(mb)))


def recompute_logprobs(model, score_fn: ScoreFn, batch: UpdateBatch, temperature: float,
                       micro_batch_rows: int, dist: Dist = SINGLE) -> list[list[float]]:
    """Log-probs of every row's response under ``model`` (no gradient), unpadded."""
    out: list[list[float]] = []
    with torch.no_grad():
        for rows in micro_batches(range(len(batch)), micro_batch_rows, dist):
            run = rows or [0]
            logprobs, _ = score_fn(model, [batch.prompt_ids[i] for i in run], [batch.response_ids[i] for i in run],
                                   temperature, False)
            out.extend(logprobs[j, : len(batch.response_ids[i])].tolist() for j, i in enumerate(rows))
    return out


def logprob_mismatch(recorded: Sequence[Sequence[float]], recomputed: Sequence[Sequence[float]],
                     dist: Dist = SINGLE) -> dict[str, float]:
    """How far the sampler's log-probs are from the trainer's, over the given tokens of every rank
    (≈ 0 on HF; the first thing vLLM breaks)."""
    diffs = torch.tensor([abs(a - b) for r, c in zip(recorded, recomputed) for a, b in zip(r, c)])
    tokens = dist.sum(float(diffs.numel()))
    return {"logprob_mismatch_mean": dist.sum(diffs.sum().item()) / max(tokens, 1.0),
            "logprob_mismatch_max": dist.max(diffs.max().item() if diffs.numel() else 0.0)}


def ppo_epoch(model, ref_model, optimizer: torch.optim.Optimizer, score_fn: ScoreFn, batch: UpdateBatch,
              order: Sequence[int], options: LossOptions, temperature: float, mini_batch_rows: int,
              micro_batch_rows: int, grad_clip: float, dist: Dist = SINGLE) -> dict[str, float]:
    """One pass over the rows in ``order``; returns the means of the loss terms over mini-batches
    (under torchrun: of the global mini-batches, equal on every rank), and :func:`logprob_mismatch`
    over the first mini-batch's tokens: its forward runs on the weights that sampled (before any
    optimizer step), so it gives the numbers a separate no-grad pass would, for nothing. ``kl`` and
    ``entropy`` only when the loss computes them (a reference model and kl_coef > 0,
    entropy_coef > 0): a 0 there would read as a collapsed policy."""
    totals = {"loss": 0.0, "policy_loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0, "grad_norm": 0.0}
    not_computed = {"kl"} if ref_model is None or options.kl_coef <= 0 else set()
    not_computed |= {"entropy"} if options.entropy_coef <= 0 else set()
    steps = 0
    recorded: list[list[float]] = []  # the first mini-batch's rows: sampler's and trainer's log-probs
    recomputed: list[list[float]] = []
    for chunks, mb_tokens, mb_rows in mini_batches(batch, order, mini_batch_rows, micro_batch_rows, dist):
        optimizer.zero_grad(set_to_none=True)
        sums = dict.fromkeys(("loss", "policy_loss", "kl", "entropy", "clip_fraction"), 0.0)
        for rows in chunks:
            terms, logprobs = micro_batch_loss(model, ref_model, score_fn, batch, rows or [order[0]], options,
                                               temperature, mb_tokens, mb_rows)
            # × world: FSDP averages gradients over ranks, the loss is already over the global mini-batch
            (terms.loss * (dist.world if rows else 0.0)).backward()
            for k in sums if rows else ():
                sums[k] += getattr(terms, k).item()
            if steps == 0:
                recorded += [batch.old_logprobs[i] for i in rows]
                recomputed += [logprobs[j, : len(batch.response_ids[i])].tolist() for j, i in enumerate(rows)]
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        for k in sums:
            totals[k] += dist.sum(sums[k])
        totals["grad_norm"] += scalar(grad_norm)
        steps += 1
    return ({k: v / max(steps, 1) for k, v in totals.items() if k not in not_computed}
            | {"optimizer_steps": steps} | logprob_mismatch(recorded, recomputed, dist))


def micro_batch_loss(model, ref_model, score_fn: ScoreFn, batch: UpdateBatch, rows: list[int],
                     options: LossOptions, temperature: float, mb_tokens: float,
                     mb_rows: int) -> tuple[LossTerms, torch.Tensor]:
    """The loss terms of ``rows`` and their log-probs under ``model`` ([rows, longest], detached)."""
    prompts = [batch.prompt_ids[i] for i in rows]
    responses = [batch.response_ids[i] for i in rows]
    width = max(len(r) for r in responses)
    old, mask = padded([batch.old_logprobs[i] for i in rows], width)
    if batch.loss_masks is not None:
        mask = mask * padded([[float(t) for t in batch.loss_masks[i]] for i in rows], width)[0]
    if isinstance(batch.advantages[rows[0]], list):  # per token (GAE)
        advantages = padded([batch.advantages[i] for i in rows], width)[0]
    else:
        advantages = torch.tensor([batch.advantages[i] for i in rows], dtype=torch.float32)
    logprobs, entropy = score_fn(model, prompts, responses, temperature, options.entropy_coef > 0)
    old, mask, advantages = old.to(logprobs.device), mask.to(logprobs.device), advantages.to(logprobs.device)
    ref = None
    if ref_model is not None and options.kl_coef > 0:
        with torch.no_grad():
            ref, _ = score_fn(ref_model, prompts, responses, temperature, False)
    normaliser = mb_tokens if options.aggregation == "token-mean" else float(mb_rows)
    terms = policy_loss(logprobs[:, :width], old, advantages, mask, options,
                        entropy=None if entropy is None else entropy[:, :width],
                        ref_logprobs=None if ref is None else ref[:, :width], normaliser=normaliser)
    return terms, logprobs[:, :width].detach()
