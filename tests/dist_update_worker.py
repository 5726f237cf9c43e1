"""Test entry (not collected): the trainer's PPO update on one fixed batch of real rows, run alone
or under ``torchrun --nproc-per-node 2`` by tests/test_train_dist.py.

Every rank samples the same 8 responses of the real tiny model (same seed), keeps the whole groups
:func:`repro.trainer.distributed.rank_share` gives it (uneven: 5 rows vs 3, so padding micro-batches
run), shards the model with FSDP2 when the world is larger than 1, and runs one PPO epoch whose
single mini-batch holds every row. Rank 0 writes the epoch's metrics, the updated full weights and
the recomputed log-probs; then every rank saves a DCP checkpoint of model + optimiser.

    python tests/dist_update_worker.py OUT_DIR
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import torch

from repro.config import ModelConfig, SamplingConfig
from repro.policy import load_policy
from repro.policy.tiny import ensure_tiny
from repro.trainer.checkpoint import save_checkpoint
from repro.trainer.distributed import full_state_dict, init_distributed, rank_share, shard_model
from repro.trainer.loss import LossOptions
from repro.trainer.update import UpdateBatch, causal_lm_scorer, ppo_epoch, recompute_logprobs

PROMPTS = ["go to the fridge", "You arrive at countertop 1.", "search[red shoes]", "look"]
GROUP_SIZES = [3, 1, 2, 2]  # rank 0 of 2 gets groups 0 and 2 (5 rows), rank 1 groups 1 and 3 (3 rows)
ADVANTAGES = [1.0, -0.5, 0.25, 0.8, -1.0, 0.5, -0.3, 0.9]


def make_optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    # SGD keeps the update linear in the gradient (Adam's first step is ~lr·sign(g), which turns float
    # noise in tiny gradients into lr-sized differences); momentum gives the optimiser a state to save
    return torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)


def main(out: Path) -> None:
    torch.set_num_threads(1)
    dist = init_distributed("cpu")
    policy = load_policy(ModelConfig(path=str(ensure_tiny()), device="cpu"))
    groups = [g for g, n in enumerate(GROUP_SIZES) for _ in range(n)]
    prompts = [policy.chat_prompt([{"role": "user", "content": PROMPTS[g]}]) for g in groups]
    gens = policy.sample(prompts, SamplingConfig(temperature=1.0, max_new_tokens=12, seed=3))
    mine = set(rank_share(range(len(GROUP_SIZES)), dist))
    rows = [i for i, g in enumerate(groups) if g in mine]
    batch = UpdateBatch([prompts[i] for i in rows], [gens[i].response_ids for i in rows],
                        [gens[i].logprobs for i in rows], [ADVANTAGES[i] for i in rows])

    model = copy.deepcopy(policy.model).eval()
    reference = copy.deepcopy(policy.model).requires_grad_(False)
    if dist.enabled:
        model, reference = shard_model(model, dist), shard_model(reference, dist)
    optimizer = make_optimizer(model)
    score = causal_lm_scorer(policy.pad_id)
    stats = ppo_epoch(model, reference, optimizer, score, batch, list(range(len(batch))), LossOptions(), 1.0,
                      mini_batch_rows=16, micro_batch_rows=2, grad_clip=1.0, dist=dist)
    recomputed = dict(zip(rows, recompute_logprobs(model, score, batch, 1.0, micro_batch_rows=2, dist=dist)))
    weights = full_state_dict(model)
    everything = {}
    for part in dist.gather(recomputed):
        everything.update(part)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "stats.json").write_text(json.dumps({"stats": stats, "world": dist.world,
                                                    "logprobs": [everything[i] for i in range(len(groups))]}))
        torch.save(weights, out / "weights.pt")
    save_checkpoint(out / "checkpoints", 1, model, optimizer, {"world": dist.world})
    if dist.enabled:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
