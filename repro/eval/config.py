"""The ``repro eval`` config: common keys plus the chosen env's own config section.

Defaults below the config file and ``key=value`` overrides:

* math envs sample as the papers do (S-GRPO's protocol: T = 0.6, top-p = 0.95, 32K new tokens;
  :data:`TINY_MAX_NEW_TOKENS` for the random tiny model, which never ends a response by itself);
* ``model.path=<run>/model`` (the weights a ``repro train`` or ``repro sft`` run exported) takes the
  env settings that run trained on, and a training run's validation sampling, from its config.yaml
  (:func:`trained_run_settings`), so an eval of a trained model measures what its validation did.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from repro.config import ModelConfig, SamplingConfig, load_config, peek_value
from repro.envs import ENVS
from repro.envs.base import EnvConfig
from repro.errors import ReproError
from repro.eval.prompting import PromptingConfig
from repro.rollout.config import RolloutConfig


@dataclass
class ExitCurveConfig:
    fractions: list[float] = field(default_factory=lambda: [round(0.1 * k, 1) for k in range(1, 11)])
    answer_max_tokens: int = 1024  # cap on each forced exit's answer (S-GRPO's training default)

    def validate(self, prefix: str = "exit_curve") -> None:
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions) or self.fractions != sorted(self.fractions):
            raise ReproError(f"{prefix}.fractions must be increasing numbers in (0, 1], got {self.fractions}")
        if self.answer_max_tokens < 1:
            raise ReproError(f"{prefix}.answer_max_tokens must be >= 1, got {self.answer_max_tokens}")


@dataclass
class EvalConfig:
    command: str = "eval"  # as train/sft configs name theirs, so `repro validate` knows a file's kind
    env: Optional[EnvConfig] = None  # the env's own config dataclass (``<EnvClass>.Config``), chosen by env.name
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)  # agent envs: env worker pool
    exit_curve: ExitCurveConfig = field(default_factory=ExitCurveConfig)  # math envs, --exit-curve only
    prompting: PromptingConfig = field(default_factory=PromptingConfig)  # agent envs: plain | react | reflexion
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


# S-GRPO's evaluation sampling (docs/sgrpo.md §2.10: T and top-p are our assumption, recorded in every run)
PAPER_MATH_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768}
TINY_MAX_NEW_TOKENS = 256


def paper_math_sampling(model_path: Any) -> SamplingConfig:
    """The papers' math sampling; the tiny model's length cap instead of 32K tokens."""
    sampling = SamplingConfig(**PAPER_MATH_SAMPLING)
    return dataclasses.replace(sampling, max_new_tokens=TINY_MAX_NEW_TOKENS) if model_path == "tiny" else sampling


@dataclass(frozen=True)
class TrainedRunSettings:
    """What the run that exported a model directory trained on (its config.yaml)."""

    run_dir: Path
    command: str  # train | sft
    env: dict[str, Any]
    sampling: Optional[dict[str, Any]]  # a training run's validation sampling (sft: None)


def trained_run_settings(model_path: Any) -> Optional[TrainedRunSettings]:
    """The settings of the ``repro train`` / ``repro sft`` run whose ``<run>/model`` ``model_path`` is."""
    import yaml

    if not model_path or Path(str(model_path)).name != "model":
        return None
    config = Path(str(model_path)).parent / "config.yaml"
    if not config.is_file():
        return None
    saved = yaml.safe_load(config.read_text()) or {}
    if saved.get("command") not in ("train", "sft") or not isinstance(saved.get("env"), dict):
        return None
    sampling = (saved.get("validation") or {}).get("sampling") if saved["command"] == "train" else None
    return TrainedRunSettings(config.parent, saved["command"], saved["env"], sampling)


def _known(cls_or_obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` that are fields of the dataclass (a config of an older version may
    hold keys this one dropped)."""
    names = {f.name for f in dataclasses.fields(cls_or_obj)}
    return {k: v for k, v in values.items() if k in names}


def inherited_defaults(env_cls: type, name: str, settings: Optional[TrainedRunSettings]) -> tuple[Any, Optional[SamplingConfig]]:
    """(env config, sampling or None) taken from the training run when it trained on this env."""
    if settings is None or settings.env.get("name") != name:
        return env_cls.Config(), None
    env = dataclasses.replace(env_cls.Config(), **_known(env_cls.Config, settings.env))
    sampling = None if settings.sampling is None else SamplingConfig(**_known(SamplingConfig, settings.sampling))
    return env, sampling


def inheritance_note(cfg: EvalConfig) -> Optional[str]:
    """The one line ``repro eval`` prints when its env settings (and sampling) came from the run that
    trained the model, or when that run trained on another env."""
    settings = trained_run_settings(cfg.model.path) if cfg.policy == "model" else None
    if settings is None:
        return None
    trained_on = settings.env.get("name")
    if trained_on != cfg.env.name:
        return (f"note: {cfg.model.path} was trained on {trained_on} ({settings.run_dir}); evaluating it on "
                f"{cfg.env.name} with {cfg.env.name}'s own settings")
    env_cls = ENVS.get(cfg.env.name)
    changed = [f"env.{k}={v}" for k, v in dataclasses.asdict(cfg.env).items()
               if k != "name" and v != getattr(env_cls.Config(), k)]
    source = "env settings"
    if settings.sampling is not None:
        source += " and validation sampling"
        changed += [f"sampling.{k}={v}" for k, v in dataclasses.asdict(cfg.sampling).items()
                    if k in settings.sampling and v != getattr(SamplingConfig(), k)]
    return (f"{source} from {settings.run_dir / 'config.yaml'} (the run that trained this model): "
            f"{' '.join(changed) or 'the defaults'}; override with env.KEY=VALUE / sampling.KEY=VALUE")


def build_eval_config(env_name: Optional[str], config_file: Optional[Path], overrides: list[str]) -> EvalConfig:
    """Pick the env (``--env`` beats ``env.name`` in the file/overrides), then merge the defaults (the
    papers' math sampling, or what the model's training run used), the file and the overrides."""
    name = env_name or peek_value("env.name", config_file, overrides)
    if not name:
        raise ReproError("no env given: pass --env NAME (see `repro ls envs`)")
    env_cls = ENVS.get(name)
    overrides = [o for o in overrides if not o.startswith("env.name=")]
    model_path = peek_value("model.path", config_file, overrides, default=ModelConfig.path)
    policy = peek_value("policy", config_file, overrides, default=EvalConfig.policy)
    env, sampling = inherited_defaults(env_cls, name, trained_run_settings(model_path) if policy == "model" else None)
    if sampling is None:
        sampling = paper_math_sampling(model_path) if ENVS.entry(name).meta["kind"] == "math" else SamplingConfig()
    cfg = load_config(EvalConfig(env=env, sampling=sampling), config_file, overrides)
    cfg.env.name = name
    return cfg
