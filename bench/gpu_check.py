"""The GPU check: one GiGPO iteration of the real trainer on the maze at the paper's batch shape,
the HF backend on CUDA in bf16, FSDP2 over NCCL on 1 rank, with a Qwen2.5-1.5B-shaped model of
random weights built from a config (no download). Prints seconds per phase, tokens/s and peak GPU
memory. Run it through ``bench/gpu_check.sh`` (which also bounds it to 8 minutes).

What it assumes of the machine (a lent GPU machine: no network, Python 3.12, its own torch and
transformers, no vLLM): torch and transformers with their own dependencies (numpy, tokenizers,
safetensors, pyyaml, ...) and the standard library, nothing else; repro itself is imported from
the copied working tree (``PYTHONPATH``), not installed. So it avoids every module that needs more
(the CLI, OmegaConf configs from YAML, ALFWorld/TextWorld, spaCy, math-verify, vLLM): the maze
needs no data files, the tokenizer is a byte-level BPE trained here on maze text, the config is
built as dataclasses, and the paper's batch shape is read from
benchmarks/gigpo/alfworld_gigpo_std.yaml with pyyaml. tests/test_gpu_check.py runs the CPU dry run
(``--device cpu --shape tiny``) with only torch, transformers and their dependencies importable.

What it runs: the trainer of ``repro train`` (:class:`repro.trainer.loop.Trainer`), built at world
size 1 as usual, then switched to the multi-rank layout: the trained copy and the reference
sharded with FSDP2 (bf16 compute, fp32 master weights and reductions), an unsharded bf16 sampler
that loads the full weights after the update. 16 tasks x 8 trajectories, up to ``--max-steps``
maze steps (default 4, the maze's own cap is 8: chosen to fit the 8 minutes by an estimate, never
timed on a GPU) of up to 512 new tokens each (random weights rarely stop early), PPO over every row
in mini-batches of 256 rows, micro-batches of 32. If it runs out of time, ``--max-steps 2`` halves
the rollout and the update.

    bench/gpu_check.sh                                   # on the GPU machine
    bench/gpu_check.sh --device cpu --shape tiny --tasks 2 --group-size 2 --max-steps 2 --max-new-tokens 8
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIG = ROOT / "benchmarks" / "gigpo" / "alfworld_gigpo_std.yaml"
# Qwen2.5-1.5B-Instruct's config.json, the architecture facts only
QWEN25_15B = {"architecture": "Qwen2ForCausalLM", "hidden_size": 1536, "intermediate_size": 8960,
              "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
              "max_position_embeddings": 32768, "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6,
              "tie_word_embeddings": True}


def tiny_shape() -> dict:
    from repro.policy.tiny import RECIPE

    keys = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "vocab_size", "max_position_embeddings", "rope_theta", "tie_word_embeddings")
    return {"architecture": RECIPE["architecture"], **{k: RECIPE[k] for k in keys}}


def maze_texts(n: int = 400) -> list[str]:
    """Maze prompts and replies as the rollout renders them: the tokenizer's training corpus."""
    from repro.envs.maze import MazeEnv

    env, rng, texts = MazeEnv(MazeEnv.Config()), random.Random(0), []
    for task in range(n):
        obs, info = env.reset(str(task))
        for _ in range(3):
            actions = info["admissible_actions"]
            if not actions:
                break
            action = rng.choice(actions)
            texts.append(MazeEnv.PROMPT_FIRST.format(observation=obs, actions=", ".join(f"'{a}'" for a in actions))
                         + f"<think>The exit is near; I {action}.</think><action>{action}</action>")
            obs, _, done, info = env.step(action)
            if done:
                break
    return texts


def build_model_dir(shape: dict, out: Path, device: str) -> Path:
    """A model directory from a config with random weights (seeded, initialised on ``device``;
    saved in bf16 on CUDA) and a tokenizer trained here."""
    import torch
    import transformers

    from repro.policy.tiny import RECIPE, train_tokenizer
    from repro.policy.transformers_logging import quiet_progress

    tokenizer = train_tokenizer(maze_texts(), RECIPE)
    config_cls = getattr(transformers, shape["architecture"].replace("ForCausalLM", "Config"))
    config = config_cls(**{k: v for k, v in shape.items() if k != "architecture"},
                        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = getattr(transformers, shape["architecture"])(config)
    if device == "cuda":
        model = model.to(torch.bfloat16)
    with quiet_progress():
        tokenizer.save_pretrained(out)
        model.save_pretrained(out)
    return out


def paper_batch_shape() -> dict:
    import yaml

    paper = yaml.safe_load(PAPER_CONFIG.read_text())
    return {"tasks": paper["tasks_per_iteration"], "group_size": paper["group_size"],
            "max_new_tokens": paper["sampling"]["max_new_tokens"], "mini_batch_rows": paper["mini_batch_rows"],
            "micro_batch_rows": paper["micro_batch_rows"], "kl_coef": paper["loss"]["kl_coef"],
            "max_prompt_tokens": paper["env"]["max_prompt_tokens"]}


def init_process_group(device: str) -> None:
    """A 1-rank process group on this machine (NCCL on CUDA, gloo on CPU)."""
    import socket

    import torch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                                         rank=0, world_size=1)


def shard_like_torchrun(trainer, device: str) -> None:
    """The multi-rank layout at world size 1: the trained copy and the reference FSDP2-sharded,
    the sampler a separate unsharded model that loads the full weights after each update."""
    import torch

    from repro.trainer.distributed import Dist, shard_model

    dist = Dist(device=device)
    trainer.model = shard_model(copy.deepcopy(trainer.base_model), dist)
    if trainer.reference is not None:
        trainer.reference = shard_model(trainer.reference, dist)
    optim = trainer.cfg.optim
    trainer.optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=optim.lr, betas=tuple(optim.betas),
                                          weight_decay=optim.weight_decay)
    trainer.sampler_is_trained = False


def imported_packages() -> list[str]:
    """Top-level modules outside the standard library that this process imported."""
    return sorted({name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)
                  - {"__main__", "__mp_main__"} - {n for n in sys.modules if n.startswith("_")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--shape", choices=("qwen2.5-1.5b", "tiny"), default="qwen2.5-1.5b")
    parser.add_argument("--tasks", type=int, help="tasks per iteration (default: the paper's, 16)")
    parser.add_argument("--group-size", type=int, help="trajectories per task (default: the paper's, 8)")
    parser.add_argument("--max-steps", type=int, default=4, help="maze steps per episode")
    parser.add_argument("--max-new-tokens", type=int, help="per reply (default: the paper's, 512)")
    parser.add_argument("--workers", type=int, default=4, help="maze env worker processes")
    args = parser.parse_args()
    started = time.perf_counter()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu_check.py: skipped, no CUDA here (the CPU dry run: --device cpu --shape tiny)")
        return
    import transformers

    from repro.algos import ALGOS
    from repro.config.schema import ModelConfig, SamplingConfig
    from repro.envs.maze import MazeConfig
    from repro.results.run_dir import RunDir
    from repro.rollout.config import RolloutConfig
    from repro.trainer.config import TrainConfig
    from repro.trainer.loop import Trainer
    from repro.trainer.loss import LossOptions

    paper = paper_batch_shape()
    shape = QWEN25_15B if args.shape == "qwen2.5-1.5b" else tiny_shape()
    print(f"# gpu_check: python {sys.version.split()[0]}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name(0)})" if args.device == "cuda" else ""), flush=True)
    work = Path(tempfile.mkdtemp(prefix="repro-gpu-check-"))
    t = time.perf_counter()
    model_dir = build_model_dir(shape, work / "model", args.device)
    print(f"phase build_model_s={time.perf_counter() - t:.1f} shape={args.shape}", flush=True)

    cfg = TrainConfig(
        algo="gigpo", advantage=ALGOS.get("gigpo").config(),
        env=MazeConfig(max_steps=args.max_steps, max_prompt_tokens=paper["max_prompt_tokens"]),
        model=ModelConfig(path=str(model_dir), device=args.device, dtype="auto",
                          batch_size=(args.tasks or paper["tasks"]) * (args.group_size or paper["group_size"])),
        sampling=SamplingConfig(temperature=1.0, max_new_tokens=args.max_new_tokens or paper["max_new_tokens"]),
        rollout=RolloutConfig(num_workers=args.workers), loss=LossOptions(kl_coef=paper["kl_coef"]),
        tasks_per_iteration=args.tasks or paper["tasks"], group_size=args.group_size or paper["group_size"],
        mini_batch_rows=paper["mini_batch_rows"], micro_batch_rows=paper["micro_batch_rows"], iterations=1,
        eval_every=0, results_dir=str(work), run_name="run")
    cfg.validate()
    t = time.perf_counter()
    init_process_group(args.device)
    (work / "run").mkdir()
    trainer = Trainer(cfg, RunDir(work / "run"))
    shard_like_torchrun(trainer, args.device)
    print(f"phase load_and_shard_s={time.perf_counter() - t:.1f} parameters="
          f"{sum(p.numel() for p in trainer.base_model.parameters()):,}", flush=True)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    with trainer.rollout_pool() as pool:
        line = trainer.iteration(pool, 1)
    timing = line["timing"]
    print(f"phase rollout_s={timing['rollout_s']:.1f} (generate_s={timing['generate_s']:.1f} env_s={timing['env_s']:.1f}) "
          f"advantage_s={timing['advantage_s']:.2f} update_s={timing['update_s']:.1f}")
    print(f"rows={line['rows']} response_tokens={line['response_tokens']} generate_tokens_per_s={timing['tokens_per_s']:.0f} "
          f"optimizer_steps={line['optimizer_steps']} logprob_mismatch_max={line['logprob_mismatch_max']:.3g} "
          f"step_group_size_mean={line.get('step_group_size_mean', float('nan')):.2f}")
    if args.device == "cuda":
        print(f"peak_gpu_memory_gib allocated={torch.cuda.max_memory_allocated() / 2**30:.1f} "
              f"reserved={torch.cuda.max_memory_reserved() / 2**30:.1f}")
    print(f"total_s={time.perf_counter() - started:.1f}")
    print(f"imported: {' '.join(imported_packages())}")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
