"""Config sections shared by several commands (eval, train, sft)."""

from __future__ import annotations

from dataclasses import dataclass, field

from repro.errors import ReproError


@dataclass
class SamplingConfig:
    """How the policy samples a response."""

    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    max_new_tokens: int = 512
    stop: list[str] = field(default_factory=list)  # stop strings, kept in the response
    seed: int = 0

    def validate(self, prefix: str = "sampling") -> None:
        if self.temperature < 0:
            raise ReproError(f"{prefix}.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ReproError(f"{prefix}.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ReproError(f"{prefix}.top_k must be >= 0 (0 = off), got {self.top_k}")
        if self.max_new_tokens < 1:
            raise ReproError(f"{prefix}.max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class ModelConfig:
    """Which weights, on which backend and device."""

    path: str = "tiny"  # "tiny" = the locally built tiny model, else a local HF directory
    backend: str = "hf"  # hf | vllm
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16 | float16
    batch_size: int = 16  # prompts per generate() call
    num_threads: int = 1  # torch CPU threads; 1 is fastest for tiny models on 2 cores

    def validate(self, prefix: str = "model") -> None:
        if self.backend not in ("hf", "vllm"):
            raise ReproError(f"{prefix}.backend must be 'hf' or 'vllm', got '{self.backend}'")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ReproError(f"{prefix}.device must be auto, cpu or cuda, got '{self.device}'")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ReproError(f"{prefix}.dtype must be auto, float32, bfloat16 or float16")
        if self.batch_size < 1:
            raise ReproError(f"{prefix}.batch_size must be >= 1")
