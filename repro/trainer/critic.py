"""PPO with a critic, the GiGPO paper's strongest non-group baseline (docs/gigpo.md §3, §5).

* the critic is the policy's own transformer (a deep copy of the loaded checkpoint's backbone,
  no LM head) with a scalar value head; it has its own AdamW (lr 1e-5) and is checkpointed
  beside the policy;
* V_t is read at the position that predicts response token t (the state before emitting it);
* every step row is its own episode: the token reward is 0 except the row's outcome score on
  its last token, GAE (γ = λ = 1 by default) runs within the row, advantages are whitened over
  the batch (:mod:`repro.algos.gae`);
* value loss, clipped as verl does it: ``0.5 · token-mean(max((V − R)², (V_clip − R)²))`` with
  ``V_clip = V_old + clip(V − V_old, −value_clip, value_clip)`` and value_clip = 0.5 (verl's
  ``critic.cliprange_value``), R the GAE returns; one epoch over the same mini-batches as the policy.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from repro.trainer.advantages import estimate, step_rows
from repro.trainer.config import CriticConfig
from repro.trainer.distributed import Dist, scalar, shard_model
from repro.trainer.loop import Trainer
from repro.trainer.loss import aggregate
from repro.trainer.update import SINGLE, UpdateBatch, micro_batches, mini_batches, padded


class ValueModel(torch.nn.Module):
    """A causal LM's backbone with a scalar head: one value per position."""

    def __init__(self, backbone: torch.nn.Module, hidden_size: int, init_std: float):
        super().__init__()
        self.backbone = backbone
        self.value_head = torch.nn.Linear(hidden_size, 1, dtype=next(backbone.parameters()).dtype)
        torch.nn.init.normal_(self.value_head.weight, std=init_std)
        torch.nn.init.zeros_(self.value_head.bias)

    @classmethod
    def from_causal_lm(cls, lm: torch.nn.Module) -> "ValueModel":
        """Same architecture and weights as ``lm`` (its base model), a fresh head."""
        config = lm.config
        return cls(copy.deepcopy(lm.base_model), config.hidden_size, getattr(config, "initializer_range", 0.02))

    def forward(self, input_ids, attention_mask, position_ids, keep: int) -> torch.Tensor:
        """Values of the last ``keep`` positions, [batch, keep], float32."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               use_cache=False).last_hidden_state[:, -keep:]
        return self.value_head(hidden).squeeze(-1).to(torch.float32, copy=True)  # a copy: FSDP2 outputs must not be views


def response_values(critic: torch.nn.Module, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]],
                    pad_id: int) -> torch.Tensor:
    """V_t for every response token t ([rows, longest response], 0 on padding)."""
    from repro.policy.logprobs import pack_prompt_response, position_ids_for

    device = next(critic.parameters()).device
    ids, attention, mask = (t.to(device) for t in pack_prompt_response(prompts, responses, pad_id))
    r_len = mask.shape[1]
    # positions p_len-1 .. end-2 hold the state before each response token (as the policy's logits)
    values = critic(ids, attention, position_ids_for(attention), keep=r_len + 1)[:, :-1]
    return values.masked_fill(~mask, 0.0)


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               value_clip: float, normaliser: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(0.5 · token-mean of the clipped squared error, fraction of tokens where the clip bound)."""
    clipped = old_values + (values - old_values).clamp(-value_clip, value_clip)
    unclipped_error, clipped_error = (values - returns) ** 2, (clipped - returns) ** 2
    loss = 0.5 * aggregate(torch.maximum(unclipped_error, clipped_error), mask, "token-mean", normaliser)
    return loss, aggregate((clipped_error > unclipped_error).float(), mask, "token-mean", normaliser)


def batch_values(critic: torch.nn.Module, batch: UpdateBatch, pad_id: int, micro_batch_rows: int,
                 dist: Dist = SINGLE) -> list[list[float]]:
    """The critic's V_t of every row (no gradient), unpadded."""
    out: list[list[float]] = []
    with torch.no_grad():
        for rows in micro_batches(range(len(batch)), micro_batch_rows, dist):
            run = rows or [0]
            values = response_values(critic, [batch.prompt_ids[i] for i in run], [batch.response_ids[i] for i in run], pad_id)
            out.extend(values[j, : len(batch.response_ids[i])].tolist() for j, i in enumerate(rows))
    return out


def critic_epoch(critic: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: UpdateBatch,
                 old_values: list[list[float]], returns: list[list[float]], order: Sequence[int], cfg: CriticConfig,
                 pad_id: int, mini_batch_rows: int, micro_batch_rows: int, dist: Dist = SINGLE) -> dict[str, float]:
    """One pass of value regression over the rows in ``order``, mini-batched like the policy."""
    totals = {"value_loss": 0.0, "value_clip_fraction": 0.0, "critic_grad_norm": 0.0}
    steps = 0
    for chunks, mb_tokens, _ in mini_batches(batch, order, mini_batch_rows, micro_batch_rows, dist):
        optimizer.zero_grad(set_to_none=True)
        sums = {"value_loss": 0.0, "value_clip_fraction": 0.0}
        for rows in chunks:
            run = rows or [order[0]]
            values = response_values(critic, [batch.prompt_ids[i] for i in run], [batch.response_ids[i] for i in run], pad_id)
            width = values.shape[1]
            old, mask = padded([old_values[i] for i in run], width)
            target, _ = padded([returns[i] for i in run], width)
            loss, clipped = value_loss(values, old.to(values.device), target.to(values.device), mask.to(values.device),
                                       cfg.value_clip, mb_tokens)
            (loss * (dist.world if rows else 0.0)).backward()  # × world: see ppo_epoch
            if rows:
                sums["value_loss"] += loss.item()
                sums["value_clip_fraction"] += clipped.item()
        grad_norm = torch.nn.utils.clip_grad_norm_(critic.parameters(), cfg.grad_clip)
        optimizer.step()
        for k in sums:
            totals[k] += dist.sum(sums[k])
        totals["critic_grad_norm"] += scalar(grad_norm)
        steps += 1
    return {k: v / max(steps, 1) for k, v in totals.items()}


class PPOTrainer(Trainer):
    """The agent trainer with GAE advantages from a critic; rollout, policy update, checkpoints and
    the run loop are the base class's."""

    def __init__(self, cfg: Any, run_dir: Any):
        super().__init__(cfg, run_dir)
        # built from the weights as loaded (before any resume, which then overwrites them)
        self.critic = ValueModel.from_causal_lm(self.base_model).train(False)
        if self.dist.enabled:
            self.critic = shard_model(self.critic, self.dist)
        c = cfg.critic
        self.critic_optimizer = torch.optim.AdamW(self.critic.parameters(), lr=c.lr, betas=tuple(c.betas),
                                                  weight_decay=c.weight_decay)
        self._targets: tuple[list[list[float]], list[list[float]]] | None = None

    def auxiliary(self) -> dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]:
        return {"critic": (self.critic, self.critic_optimizer)}

    def advantages(self, rows) -> tuple[list[list[float]], np.ndarray | None]:
        """Per-token GAE advantages of this rank's rows; the critic's values and returns are kept
        for :meth:`update` (the critic regresses on exactly these returns)."""
        from repro.algos.gae import TokenRows, outcome_token_rewards

        if not rows:
            self._targets = ([], [])
            return [], None
        batch = UpdateBatch([r.prompt_ids for r in rows], [r.response_ids for r in rows], [r.logprobs for r in rows],
                            [0.0] * len(rows))
        values = batch_values(self.critic, batch, self.policy.pad_id, self.cfg.micro_batch_rows, self.dist)
        scores = torch.tensor(step_rows(rows).outcome_scores(self.cfg.advantage.invalid_penalty), dtype=torch.float32)
        width = max(len(r.response_ids) for r in rows)
        value_t, mask = padded(values, width)
        whiten = self.cfg.advantage.whiten
        result = estimate(self.algorithm, TokenRows(outcome_token_rewards(scores, mask), value_t, mask),
                          dataclasses.replace(self.cfg.advantage, whiten=False))
        advantages, returns = result.advantage, result.returns
        if whiten:  # over the whole batch: under torchrun, the global masked mean and variance
            advantages = self.whiten(advantages, mask)
        lengths = [len(r.response_ids) for r in rows]
        self._targets = (values, [returns[i, :n].tolist() for i, n in enumerate(lengths)])
        return [advantages[i, :n].tolist() for i, n in enumerate(lengths)], None

    def whiten(self, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """:func:`repro.algos.gae.masked_whiten` with the mean and variance over every rank's tokens."""
        from repro.algos.gae import masked_whiten

        if not self.dist.enabled:
            return torch.where(mask != 0, masked_whiten(advantages, mask), 0.0)
        m = mask.to(advantages.dtype)
        count = self.dist.sum(m.sum().item())
        mean = self.dist.sum((advantages * m).sum().item()) / count
        var = self.dist.sum((((advantages - mean) ** 2) * m).sum().item()) / max(count - 1, 1)
        return torch.where(mask != 0, (advantages - mean) / (var + 1e-8) ** 0.5, 0.0)

    def update(self, batch: UpdateBatch, it: int) -> dict[str, Any]:
        metrics = super().update(batch, it)
        old_values, returns = self._targets
        metrics |= critic_epoch(self.critic, self.critic_optimizer, batch, old_values, returns, self.row_order(len(batch), it),
                                self.cfg.critic, self.policy.pad_id, self.cfg.mini_batch_rows, self.cfg.micro_batch_rows,
                                self.dist)
        flat = [v for row in old_values for v in row]
        metrics["value_mean"] = self.dist.sum(sum(flat)) / max(self.dist.sum(len(flat)), 1)
        return metrics
