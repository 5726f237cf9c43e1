"""The ``repro eval`` config: common keys plus the chosen env's own config section."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from repro.config import ModelConfig, SamplingConfig, load_config, peek_value
from repro.envs import ENVS
from repro.errors import ReproError
from repro.eval.exit_curve import ExitCurveConfig
from repro.rollout.config import RolloutConfig


@dataclass
class EvalConfig:
    command: str = "eval"  # as train/sft configs name theirs, so `repro validate` knows a file's kind
    env: Any = None  # the env's own config dataclass (``<EnvClass>.Config``), chosen by env.name
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)  # agent envs: env worker pool
    exit_curve: ExitCurveConfig = field(default_factory=ExitCurveConfig)  # math envs, --exit-curve only
    policy: str = "model"  # model | expert | random | oracle | replay (which ones an env supports varies)
    split: str = ""  # "" = the env's default evaluation split
    limit: Optional[int] = None  # N problems / games / goals of the split (the first N; ALFWorld: across task types)
    samples: int = 1  # samples per problem (math) or episodes per task (agents)
    seed: int = 0
    episodes_file: Optional[str] = None  # --policy replay: JSONL of recorded episodes
    run_name: Optional[str] = None  # default: eval-<env>-<timestamp>
    results_dir: str = "results"
    data_dir: Optional[str] = None  # default: $REPRO_DATA or ../shared/data

    def validate(self, prefix: str = "") -> None:
        if self.limit is not None and self.limit < 1:
            raise ReproError(f"limit must be >= 1, got {self.limit}")
        if self.samples < 1:
            raise ReproError(f"samples must be >= 1, got {self.samples}")


def build_eval_config(env_name: Optional[str], config_file: Optional[Path], overrides: list[str]) -> EvalConfig:
    """Pick the env (``--env`` beats ``env.name`` in the file/overrides), then merge everything."""
    name = env_name or peek_value("env.name", config_file, overrides)
    if not name:
        raise ReproError("no env given: pass --env NAME (see `repro ls envs`)")
    env_cls = ENVS.get(name)
    overrides = [o for o in overrides if not o.startswith("env.name=")]
    cfg = load_config(EvalConfig(env=env_cls.Config()), config_file, overrides)
    cfg.env.name = name
    return cfg
