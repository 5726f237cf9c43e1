"""Merging dataclass defaults, a YAML file and ``key=value`` overrides into a typed config.

OmegaConf is imported where it is used, so the dataclasses themselves (and the trainer built from
them) import without it: bench/gpu_check.py runs where only torch and transformers are installed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from repro.errors import ReproError
from repro.io import atomic_write_text
from repro.registry import did_you_mean

T = TypeVar("T")


def _flat_keys(node: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    keys = []
    if isinstance(node, DictConfig):
        for k in node.keys():
            full = f"{prefix}{k}"
            keys.append(full)
            keys.extend(_flat_keys(node._get_node(k), full + "."))
    return keys


def _read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ReproError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ReproError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ReproError(f"config file {path} must hold a mapping at the top level")
    return data


def _parse_overrides(overrides: list[str]) -> list[str]:
    for o in overrides:
        if "=" not in o or o.startswith("="):
            raise ReproError(f"override '{o}' is not of the form key=value")
    return list(overrides)


def peek_value(key: str, yaml_path: str | Path | None, overrides: list[str], default: Any = None) -> Any:
    """Read one dotted key from the YAML file and overrides before the schema is known
    (e.g. ``env.name`` decides which env config dataclass to use)."""
    value = default
    if yaml_path:
        node: Any = _read_yaml(yaml_path)
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            value = node
    for o in _parse_overrides(overrides):
        k, _, v = o.partition("=")
        if k == key:
            value = yaml.safe_load(v) if v else v
    return value


def _validate_tree(obj: Any, prefix: str = "") -> None:
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        _validate_tree(getattr(obj, f.name), f"{prefix}{f.name}.")
    if hasattr(obj, "validate"):
        obj.validate(prefix.rstrip(".")) if prefix else obj.validate()


def load_config(default: T, yaml_path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """``default`` (a dataclass instance) <- YAML file <- ``key=value`` overrides -> typed instance.

    Every dataclass in the tree that has a ``validate(prefix)`` method is checked afterwards.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = _parse_overrides(overrides or [])
    base = OmegaConf.structured(default)
    valid_keys = _flat_keys(base)
    try:
        merged = base
        if yaml_path:
            merged = OmegaConf.merge(merged, OmegaConf.create(_read_yaml(yaml_path)))
        if overrides:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(overrides))
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        full_key = getattr(e, "full_key", None) or getattr(e, "key", None) or ""
        if type(e).__name__ == "ConfigKeyError" or "not in" in str(e):
            raise ReproError(
                f"unknown config key '{full_key}'{did_you_mean(str(full_key), valid_keys)}"
            ) from None
        msg = str(e).splitlines()[0]
        raise ReproError(f"bad value for '{full_key}': {msg}") from None
    _validate_tree(obj)
    return obj


def config_to_yaml(cfg: Any) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config (what actually ran) atomically."""
    atomic_write_text(path, config_to_yaml(cfg))
