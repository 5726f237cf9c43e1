"""The tiny model build: deterministic, cached by recipe hash, rebuilt only when stale."""

from __future__ import annotations

import json

import pytest

from repro.policy import tiny

pytestmark = pytest.mark.hf_backend  # `make test-vllm` builds it on the transformers floor too

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "config.json"]


def test_same_recipe_builds_identical_files_and_weights(tmp_path, tiny_model_dir):
    first = tiny.build_tiny(tmp_path / "a")
    second = tiny.build_tiny(tmp_path / "b")
    for name in TOKENIZER_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["corpus_sha256"] == second["corpus_sha256"]
    # and the session's cached build is that same model
    cached = tiny.read_manifest(tiny_model_dir)
    assert (cached["weights_sha256"], cached["recipe_hash"]) == (first["weights_sha256"], first["recipe_hash"])


def test_architecture_and_vocab_follow_the_recipe(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"]
    shape = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim")
    assert tuple(config[k] for k in shape) == (64, 2, 2, 1, 32)  # head size 32: vLLM's CPU attention takes it
    assert config["vocab_size"] == tiny.RECIPE["vocab_size"]
    assert config["max_position_embeddings"] == 8192


def test_built_once_reused_then_rebuilt_when_the_recipe_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    assert "not built" in tiny.list_models()[0][2]
    path = tiny.ensure_tiny()
    built_at = (path / "model.safetensors").stat().st_mtime_ns
    assert tiny.ensure_tiny() == path
    assert (path / "model.safetensors").stat().st_mtime_ns == built_at  # reused, not rebuilt
    assert tiny.list_models()[0][2].startswith("built")

    changed = dict(tiny.RECIPE, hidden_size=32)
    assert tiny.recipe_hash(changed) != tiny.recipe_hash()
    assert not tiny.is_current(path, changed)
    manifest = tiny.read_manifest(path)
    (path / tiny.MANIFEST).write_text(json.dumps(dict(manifest, recipe_hash="old")))
    assert tiny.list_models()[0][2].startswith("stale")
    tiny.ensure_tiny()
    assert tiny.read_manifest(path)["recipe_hash"] == tiny.recipe_hash()
    rebuilt_at = (path / "model.safetensors").stat().st_mtime_ns
    tiny.ensure_tiny(force=True)
    assert (path / "model.safetensors").stat().st_mtime_ns != rebuilt_at
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tiny.") and p.is_dir()]  # no staging left
