#!/usr/bin/env bash
# The GPU check for a lent GPU machine (no network, Python 3.12 with its own torch + transformers,
# no vLLM): one GiGPO iteration of the trainer at the paper's batch shape, HF backend on CUDA in
# bf16, FSDP2 over NCCL on 1 rank; prints seconds per phase, tokens/s and peak GPU memory (see
# bench/gpu_check.py). repro runs from this working tree, nothing is installed. Stopped after
# GPU_CHECK_TIMEOUT seconds (default 470, under 8 minutes).
#
#   bench/gpu_check.sh                                  # the check (CUDA, Qwen2.5-1.5B shape)
#   bench/gpu_check.sh --device cpu --shape tiny ...    # the dry run (tests/test_gpu_check.py)
#   PYTHON=python3.12 bench/gpu_check.sh                # another interpreter (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# shellcheck disable=SC2086  # PYTHON may carry interpreter flags (the test passes "python -S")
exec timeout --signal=INT --kill-after=20 "${GPU_CHECK_TIMEOUT:-470}" ${PYTHON:-python3} bench/gpu_check.py "$@"
