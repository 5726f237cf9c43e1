"""Log-probs of given response tokens: the one differentiable computation that sampling, scoring
and the trainer's PPO update all agree on (see the convention in :mod:`repro.policy.base`)."""

from __future__ import annotations

from typing import Sequence

import torch


def tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / T`` in float32 (T = 0, greedy, scores at T = 1); at T = 1 no copy is made."""
    logits = logits.float()
    return logits / temperature if temperature not in (0, 1) else logits


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """``log softmax(logits / T)[token]`` over the full vocabulary, in float32 (T = 0 -> T = 1)."""
    scaled = tempered(logits, temperature)
    return scaled.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(scaled, dim=-1)


def position_ids_for(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding, so a padded row sees the same positions as unpadded."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, attention_mask)`` with every row right-aligned, as generation needs."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for i, seq in enumerate(sequences):
        if seq:
            ids[i, length - len(seq):] = torch.tensor(list(seq), dtype=torch.long)
            attention[i, length - len(seq):] = 1
    return ids, attention


def pack_prompt_response(
    prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[left-padded prompt | right-padded response]`` rows: every response starts at the same
    column, so its log-probs are one slice. Returns (input_ids, attention_mask, response_mask)."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    prompt_ids, prompt_attention = left_pad(prompts, pad_id)
    r_len = max(max((len(r) for r in responses), default=0), 1)
    response_ids = torch.full((len(responses), r_len), pad_id, dtype=torch.long)
    response_mask = torch.zeros((len(responses), r_len), dtype=torch.bool)
    for i, response in enumerate(responses):
        if response:
            response_ids[i, :len(response)] = torch.tensor(list(response), dtype=torch.long)
            response_mask[i, :len(response)] = True
    ids = torch.cat([prompt_ids, response_ids], dim=-1)
    attention = torch.cat([prompt_attention, response_mask.long()], dim=-1)
    return ids, attention, response_mask


def response_logits(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The logits that predict each response token: ``(logits [batch, R, vocab], response ids
    [batch, R], mask [batch, R])`` with R the longest response. Only the response positions'
    logits are materialised (``logits_to_keep``), which matters for 150k-token vocabularies."""
    device = next(model.parameters()).device
    ids, attention, mask = pack_prompt_response(prompts, responses, pad_id)
    ids, attention, mask = ids.to(device), attention.to(device), mask.to(device)
    r_len = mask.shape[1]
    # Positions p_len-1 .. end-2 predict the response tokens at p_len .. end-1.
    logits = model(
        input_ids=ids, attention_mask=attention, position_ids=position_ids_for(attention),
        use_cache=False, logits_to_keep=r_len + 1,
    ).logits[:, :-1]
    return logits, ids[:, -r_len:], mask


def response_logprobs(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    temperature: float = 1.0,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of each response token given its prompt and the response prefix.

    Returns ``(logprobs, mask)``, both ``[batch, longest response]``; padded entries are 0 and
    ``mask`` is False there. Differentiable when called under grad (the trainer's PPO update).
    """
    logits, targets, mask = response_logits(model, prompts, responses, pad_id)
    return token_logprobs(logits, targets, temperature).masked_fill(~mask, 0.0), mask
