"""Typed configs: dataclasses merged with a YAML file and ``key=value`` overrides (OmegaConf).

Each part of the system owns its dataclass (``SamplingConfig`` here, each env its own); a command
composes them into one top-level dataclass and calls :func:`load_config`. Unknown keys and bad
values become one-line :class:`ReproError` messages with a did-you-mean suggestion.
"""

from repro.config.load import config_to_yaml, load_config, peek_value, save_config
from repro.config.schema import ModelConfig, SamplingConfig

__all__ = [
    "ModelConfig",
    "SamplingConfig",
    "config_to_yaml",
    "load_config",
    "peek_value",
    "save_config",
]
