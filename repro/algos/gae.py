"""PPO's advantage with a critic: GAE within each step row, then batch whitening (docs/gigpo.md §5).

On step rows the token-level reward is zero except the row's outcome score on its last response
token; with γ = λ = 1 (the defaults the paper's PPO baseline ran) the advantage of token t is
that score minus the critic's value V_t. There is no bootstrapping across turns: each row is
its own episode. Tensors are [rows, response tokens]; padding positions (mask 0) are skipped and
get 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from repro.algos import Algorithm, EstimatorConfig
from repro.errors import ReproError

if TYPE_CHECKING:
    import torch


@dataclass
class GAEConfig(EstimatorConfig):
    gamma: float = 1.0  # γ of GAE (token-level discount inside a row)
    lam: float = 1.0  # λ of GAE
    whiten: bool = True  # normalise advantages over all valid tokens of the batch
    invalid_penalty: float = 0.1  # λ_invalid, subtracted once from an invalid row's score (docs/gigpo.md §2.5)

    def validate(self, prefix: str = "ppo") -> None:
        if not 0 <= self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ReproError(f"{prefix}.gamma and {prefix}.lam must be in [0, 1]")
        if self.invalid_penalty < 0:
            raise ReproError(f"{prefix}.invalid_penalty must be >= 0, got {self.invalid_penalty}")


def outcome_token_rewards(row_scores: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Each row's scalar score on its last valid response token, 0 elsewhere."""
    import torch

    mask = response_mask != 0
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = torch.where(mask, positions, -1).max(dim=1).values
    rewards = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    has_tokens = last >= 0
    rows = torch.nonzero(has_tokens).squeeze(1)
    rewards[rows, last[has_tokens]] = row_scores.to(rewards.dtype)[has_tokens]
    return rewards


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) over the masked entries (unbiased variance)."""
    m = mask.to(values.dtype)
    count = m.sum()
    mean = (values * m).sum() / count
    var = (((values - mean) ** 2) * m).sum() / (count - 1).clamp(min=1)
    return (values - mean) * (var + eps).rsqrt()


@dataclass(frozen=True)
class TokenRows:
    """PPO's input: per response token of each row, [rows, response tokens], padding where mask is 0."""

    token_rewards: torch.Tensor  # the row's outcome score on its last valid token (outcome_token_rewards)
    values: torch.Tensor  # the critic's V_t
    response_mask: torch.Tensor

    def __len__(self) -> int:
        return self.response_mask.shape[0]


@dataclass(frozen=True)
class GAEAdvantages:
    advantage: torch.Tensor  # Â_t, [rows, tokens], 0 on padding (whitened when cfg.whiten)
    returns: torch.Tensor  # Â_t + V_t before whitening: the critic's targets


def gae_advantages(rows: TokenRows, cfg: GAEConfig | None = None) -> GAEAdvantages:
    """Advantages and returns, both [rows, tokens], 0 on padding.

    δ_t = r_t + γ·V_{t+1} - V_t and Â_t = δ_t + γλ·Â_{t+1} (GAE, Schulman et al. 2016, Eq. 16),
    walking back over valid tokens only; returns = Â + V are the critic's targets (before
    whitening).
    """
    import torch

    cfg = cfg or GAEConfig()
    mask = rows.response_mask != 0
    rewards, values = rows.token_rewards.to(torch.float32), rows.values.to(torch.float32)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    next_value = torch.zeros_like(running)
    with torch.no_grad():
        for t in range(rewards.shape[1] - 1, -1, -1):
            valid = mask[:, t]
            delta = rewards[:, t] + cfg.gamma * next_value - values[:, t]
            running = torch.where(valid, delta + cfg.gamma * cfg.lam * running, running)
            next_value = torch.where(valid, values[:, t], next_value)
            advantages[:, t] = running
        returns = torch.where(mask, advantages + values, 0.0)
        if cfg.whiten:
            advantages = masked_whiten(advantages, mask)
        advantages = torch.where(mask, advantages, 0.0)
    return GAEAdvantages(advantage=advantages, returns=returns)


PPO = Algorithm(config=GAEConfig, estimate=gae_advantages, inputs=TokenRows)
