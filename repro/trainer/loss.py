"""The policy loss of the RL update (GiGPO Eq. 9, shared by GRPO and RLOO): pure functions over
tensors of shape [rows, response tokens] with a 0/1 ``mask`` marking real response tokens.

loss = agg(clipped surrogate) + kl_coef · agg(k3 KL to the reference) − entropy_coef · agg(entropy)

Aggregation divides by a ``normaliser`` the caller may pass, so a mini-batch split into
micro-batches (or across ranks) still averages over the mini-batch's tokens exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from repro.errors import ReproError

AGGREGATIONS = ("token-mean", "seq-mean-token-mean")
# k3 is bounded like the reference implementation: exp() of a large log-ratio would blow the loss up.
KL_LOG_RATIO_BOUND = 20.0
KL_VALUE_BOUND = 10.0


@dataclass
class LossOptions:
    clip_low: float = 0.2  # ε_low: ratio floor 1 − ε_low for positive advantages
    clip_high: float = 0.2  # ε_high: ratio ceiling 1 + ε_high (0.28 = DAPO "clip-higher")
    dual_clip: float = 3.0  # c: for A < 0 the loss is at most c·|A| per token (0 = off)
    kl_coef: float = 0.01  # β; 0 = no KL term and no reference model
    entropy_coef: float = 0.001
    aggregation: str = "token-mean"  # token-mean | seq-mean-token-mean (S-GRPO)

    def validate(self, prefix: str = "loss") -> None:
        if self.clip_low < 0 or self.clip_high < 0:
            raise ReproError(f"{prefix}.clip_low and {prefix}.clip_high must be >= 0")
        if self.dual_clip != 0 and self.dual_clip <= 1:
            raise ReproError(f"{prefix}.dual_clip must be > 1 (or 0 = off), got {self.dual_clip}")
        if self.kl_coef < 0 or self.entropy_coef < 0:
            raise ReproError(f"{prefix}.kl_coef and {prefix}.entropy_coef must be >= 0")
        if self.aggregation not in AGGREGATIONS:
            raise ReproError(f"{prefix}.aggregation must be one of {', '.join(AGGREGATIONS)}, got '{self.aggregation}'")


def clipped_surrogate(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                      clip_low: float, clip_high: float, dual_clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO loss and a 0/1 tensor of tokens whose ratio was clipped.

    ``advantages`` broadcasts against the token tensors ([rows, 1] gives every token its row's A).
    """
    # r = π_θ / π_old per token
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    # max(−A·r, −A·clip(r, 1−ε_low, 1+ε_high))  (PPO, Eq. 9)
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    was_clipped = (clipped > unclipped).float()
    if dual_clip:
        # for A < 0: min(max(...), −c·A) — a huge ratio on a bad action cannot dominate the batch
        bound = -advantages * dual_clip
        negative = (advantages < 0).expand_as(loss)
        was_clipped = torch.where(negative & (loss > bound), torch.ones_like(was_clipped), was_clipped)
        loss = torch.where(negative, torch.minimum(loss, bound), loss)
    return loss, was_clipped


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 ("low_var_kl") estimate of KL(π_θ ‖ π_ref): non-negative, unbiased, low variance."""
    log_ratio = torch.clamp(ref_logprobs - logprobs, -KL_LOG_RATIO_BOUND, KL_LOG_RATIO_BOUND)
    # k3 = π_ref/π_θ − log(π_ref/π_θ) − 1
    return torch.clamp(torch.exp(log_ratio) - log_ratio - 1.0, -KL_VALUE_BOUND, KL_VALUE_BOUND)


def entropy_from_logprobs(logprobs: torch.Tensor) -> torch.Tensor:
    """Per-position entropy H = −Σ p·log p of a distribution given as log_softmax over the last
    dimension (the log-probs the update already has: no second pass over the vocabulary)."""
    return -(logprobs.exp() * logprobs).sum(dim=-1)


def aggregate(values: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean",
              normaliser: float | None = None) -> torch.Tensor:
    """Reduce per-token values to a scalar.

    token-mean: Σ v·m / Σ m over every token of the batch (long responses weigh more).
    seq-mean-token-mean: mean over rows of each row's token mean (every response weighs the same).
    ``normaliser`` replaces the denominator (Σ m, resp. the row count) with the mini-batch's.
    """
    mask = mask.to(values.dtype)
    if mode == "token-mean":
        denominator = mask.sum() if normaliser is None else normaliser
        return (values * mask).sum() / denominator
    if mode == "seq-mean-token-mean":
        per_row = (values * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1.0)
        denominator = per_row.shape[0] if normaliser is None else normaliser
        return per_row.sum() / denominator
    raise ValueError(f"unknown aggregation '{mode}'")


@dataclass
class LossTerms:
    loss: torch.Tensor  # the scalar to back-propagate
    policy_loss: torch.Tensor
    kl: torch.Tensor
    entropy: torch.Tensor
    clip_fraction: torch.Tensor


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, options: LossOptions, entropy: torch.Tensor | None = None,
                ref_logprobs: torch.Tensor | None = None, normaliser: float | None = None) -> LossTerms:
    """The full loss for one (micro-)batch; ``advantages`` has one value per row ([rows]) or per
    token ([rows, tokens], PPO's GAE)."""
    per_token = advantages if advantages.dim() == 2 else advantages.unsqueeze(-1)
    surrogate, was_clipped = clipped_surrogate(logprobs, old_logprobs, per_token,
                                               options.clip_low, options.clip_high, options.dual_clip)
    agg = options.aggregation
    pg = aggregate(surrogate, mask, agg, normaliser)
    zero = pg.new_zeros(())
    kl = aggregate(k3_kl(logprobs, ref_logprobs), mask, agg, normaliser) if ref_logprobs is not None else zero
    ent = aggregate(entropy, mask, agg, normaliser) if entropy is not None else zero
    # Eq. 9 with the entropy bonus: L = L_clip + β·KL − c_H·H
    loss = pg + options.kl_coef * kl - options.entropy_coef * ent
    clip_fraction = aggregate(was_clipped, mask, agg, normaliser)
    return LossTerms(loss, pg.detach(), kl.detach(), ent.detach(), clip_fraction.detach())
