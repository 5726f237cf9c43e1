"""The ``repro train`` config: one typed dataclass (defaults = the paper's ALFWorld setting,
docs/gigpo.md §3), the env's own section and the algorithm's estimator options chosen by name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from repro.algos import ALGOS, EstimatorConfig
from repro.algos.gae import TokenRows
from repro.algos.rows import StepRows
from repro.config import ModelConfig, SamplingConfig, load_config, peek_value
from repro.envs import ENVS
from repro.envs.base import EnvConfig
from repro.errors import ReproError
from repro.rollout.config import RolloutConfig
from repro.rollout.serial import SerialConfig
from repro.trainer.loss import LossOptions


@dataclass
class OptimConfig:
    lr: float = 1e-6  # constant, no warm-up
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0  # max global gradient norm

    def validate(self, prefix: str = "optim") -> None:
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip <= 0:
            raise ReproError(f"{prefix}: lr and grad_clip must be > 0, weight_decay >= 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ReproError(f"{prefix}.betas must be two numbers in [0, 1), got {self.betas}")


@dataclass
class ValidationConfig:
    """Validation every ``eval_every`` iterations, through ``repro eval``'s agent driver."""

    episodes: int = 128  # tasks of the split, one episode each (docs/gigpo.md §2.1: 128 envs)
    split: str = ""  # "" = the env's evaluation split
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.4))

    def validate(self, prefix: str = "validation") -> None:
        if self.episodes < 1:
            raise ReproError(f"{prefix}.episodes must be >= 1, got {self.episodes}")


@dataclass
class CriticConfig:
    lr: float = 1e-5  # docs/gigpo.md §3: critic lr 1e-5
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0
    value_clip: float = 0.5  # verl critic.cliprange_value

    def validate(self, prefix: str = "critic") -> None:
        if self.lr <= 0 or self.grad_clip <= 0 or self.value_clip <= 0 or self.weight_decay < 0:
            raise ReproError(f"{prefix}: lr, grad_clip and value_clip must be > 0, weight_decay >= 0")


MATH_ALGOS = ("sgrpo", "grpo", "length_penalty")


@dataclass
class MathRecipeConfig:
    serial: SerialConfig = field(default_factory=SerialConfig)  # sgrpo only
    train_split: str = "train"
    # a local JSONL with question/answer (or problem/answer) fields instead of the env's train split
    # (DeepMath-103K, the paper's training set, is not available offline: docs/sgrpo.md §4.3)
    train_file: str = ""
    filter_groups: bool = True  # sgrpo: drop groups whose early exits are all wrong (docs/sgrpo.md §2.8)
    oversample: float = 2.0  # sgrpo with filter_groups: roll out ceil(oversample × tasks_per_iteration) queries

    def validate(self, prefix: str = "math") -> None:
        if self.oversample < 1:
            raise ReproError(f"{prefix}.oversample must be >= 1, got {self.oversample}")
        if self.train_file and not Path(self.train_file).is_file():
            raise ReproError(f"{prefix}.train_file {self.train_file} does not exist")


@dataclass
class TrainConfig:
    command: str = "train"
    algo: str = "gigpo"  # see `repro ls algos`
    advantage: Optional[EstimatorConfig] = None  # the estimator's options (its dataclass, chosen by `algo`)
    critic: Optional[CriticConfig] = None  # algo ppo only: the value head's optimiser (repro.trainer.critic)
    math: Optional[MathRecipeConfig] = None  # math envs only: serial groups, filtering (repro.trainer.sgrpo)
    env: Optional[EnvConfig] = None  # the env's own config dataclass, chosen by env.name
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # rollout: T = 1, top-p 1
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    loss: LossOptions = field(default_factory=LossOptions)
    optim: OptimConfig = field(default_factory=OptimConfig)
    tasks_per_iteration: int = 16
    group_size: int = 8  # trajectories per task, all starting from the same initial state
    iterations: int = 150
    mini_batch_rows: int = 256  # step rows per optimiser step (one PPO epoch over all rows)
    micro_batch_rows: int = 32  # rows per forward/backward (gradient accumulation)
    shuffle_rows: bool = True  # shuffle rows before splitting into mini-batches (seeded per iteration)
    # sampler-vs-trainer log-prob check: first_mini_batch (the update's own first forward, free) | all_rows (+1 forward)
    logprob_mismatch: str = "first_mini_batch"
    save_every: int = 5  # checkpoint every N iterations (0 = only at the end)
    keep_checkpoints: int = 2
    eval_every: int = 5  # validate every N iterations (0 = never)
    export_model: bool = True  # write the final weights to <run>/model (Hugging Face format) for repro eval
    dump_rows: bool = False  # write each iteration's step rows (+ advantages) to rows/iter_N.jsonl for repro advantages
    seed: int = 0
    report_to: list[str] = field(default_factory=list)  # tensorboard, wandb (when installed)
    run_name: Optional[str] = None  # default: train-<algo>-<env>-<timestamp>
    results_dir: str = "results"
    data_dir: Optional[str] = None

    def validate(self, prefix: str = "") -> None:
        for key in ("tasks_per_iteration", "group_size", "iterations", "mini_batch_rows", "micro_batch_rows"):
            if getattr(self, key) < 1:
                raise ReproError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("save_every", "eval_every"):
            if getattr(self, key) < 0:
                raise ReproError(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.keep_checkpoints < 1:
            raise ReproError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        if self.logprob_mismatch not in ("first_mini_batch", "all_rows"):
            raise ReproError(f"logprob_mismatch must be first_mini_batch or all_rows, got '{self.logprob_mismatch}'")
        unknown = sorted(set(self.report_to) - {"tensorboard", "wandb"})
        if unknown:
            raise ReproError(f"report_to: unknown logger(s) {unknown}; choose from tensorboard, wandb")


def build_train_config(algo: Optional[str], env: Optional[str], config_file: Optional[Path],
                       overrides: list[str]) -> TrainConfig:
    """Pick the algorithm and env (flags beat the file and overrides), then merge everything."""
    algo_name = algo or peek_value("algo", config_file, overrides, default=TrainConfig.algo)
    env_name = env or peek_value("env.name", config_file, overrides)
    if not env_name:
        raise ReproError("no env given: pass --env NAME (see `repro ls envs`)")
    if ENVS.entry(env_name).meta.get("kind") == "math":
        return build_math_train_config(algo_name, env_name, config_file, overrides)
    if ENVS.entry(env_name).meta.get("kind") != "agent":
        raise ReproError(f"env '{env_name}' is not an agent env; `repro train` trains on alfworld or webshop")
    env_cls = ENVS.get(env_name)
    algorithm = ALGOS.get(algo_name)
    if algorithm.inputs not in (StepRows, TokenRows):
        raise ReproError(f"algo '{algo_name}' does not estimate advantages from step rows; "
                         f"`repro train` runs gigpo, grpo, rloo and ppo")
    overrides = [o for o in overrides if not o.startswith(("env.name=", "algo="))]
    needs_critic = algorithm.inputs is TokenRows  # GAE's values come from a critic (algo ppo)
    cfg = load_config(TrainConfig(advantage=algorithm.config(), env=env_cls.Config(),
                                  critic=CriticConfig() if needs_critic else None), config_file, overrides)
    cfg.algo, cfg.env.name = algo_name, env_name
    # the recipe is chosen from these sections (trainer/run.py), so a stray one must not switch it
    if cfg.math is not None:
        raise ReproError(f"math.* settings apply to math envs only, not to '{env_name}'")
    if cfg.critic is not None and not needs_critic:
        raise ReproError(f"critic.* settings apply to algo ppo only, not to '{algo_name}'")
    if cfg.critic is None and needs_critic:
        raise ReproError(f"algo '{algo_name}' trains a critic: its critic section cannot be null")
    if cfg.command != "train":
        raise ReproError(f"config {config_file} is for '{cfg.command}', not 'train'")
    return cfg


def eq2_loss() -> LossOptions:
    """Eq. 2: clipped surrogate, no KL, no entropy bonus, sequence-mean then group-mean."""
    return LossOptions(clip_low=0.2, clip_high=0.2, dual_clip=0.0, kl_coef=0.0, entropy_coef=0.0,
                       aggregation="seq-mean-token-mean")


def build_math_train_config(algo_name: str, env_name: str, config_file: Optional[Path], overrides: list[str]) -> TrainConfig:
    if algo_name not in MATH_ALGOS:
        raise ReproError(f"algo '{algo_name}' does not train on math envs; choose one of {', '.join(MATH_ALGOS)}")
    default = TrainConfig(algo=algo_name, advantage=ALGOS.get(algo_name).config(), env=ENVS.get(env_name).Config(),
                          math=MathRecipeConfig(), loss=eq2_loss(), sampling=SamplingConfig(max_new_tokens=1024),
                          validation=dataclasses.replace(TrainConfig().validation, episodes=64,
                                                         sampling=SamplingConfig(temperature=0.6, top_p=0.95)))
    overrides = [o for o in overrides if not o.startswith(("env.name=", "algo="))]
    cfg = load_config(default, config_file, overrides)
    cfg.algo, cfg.env.name = algo_name, env_name
    # run.py chooses the recipe from these sections, so a stray one must not switch it (no math algo has a critic)
    if cfg.critic is not None:
        raise ReproError(f"critic.* settings apply to algo ppo only, not to '{algo_name}'")
    if cfg.command != "train":
        raise ReproError(f"config {config_file} is for '{cfg.command}', not 'train'")
    return cfg
