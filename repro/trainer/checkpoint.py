"""Checkpoints that resume bit-exactly: ``<run>/checkpoints/iter_000004/`` + a ``latest`` pointer.

Layout of one checkpoint:
  * model + optimiser (and any ``extra`` pair, e.g. PPO's critic and its optimiser):
    ``torch.distributed.checkpoint`` (DCP) files (``.metadata``, ``__R_0.distcp``), so the same code
    saves sharded FSDP2 state under torchrun and reshards on load: a run saved on N ranks resumes on
    M ranks; single-process runs use DCP's no-process-group mode;
  * ``rng_rank{R}.pt``: python / numpy / torch (CPU and CUDA) global generator states of rank R
    (a rank the saving run did not have takes rank 0's: the trainer draws its random choices from
    per-iteration seeds, so these states only guard code outside it);
  * ``state.json``: the iteration and the trainer's own state (task sampler, env seeds, ...).

A checkpoint is written to ``iter_N.tmp/``, renamed to ``iter_N/``, and only then is ``latest``
(a one-line text file naming the directory) replaced atomically: a crash at any point leaves the
previous checkpoint as the one that is loaded.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.errors import ReproError
from repro.io import atomic_write_json, atomic_write_text

LATEST = "latest"


def _dcp():
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    return dcp, get_state_dict, set_state_dict


def _rank() -> int:
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


def _barrier() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def rng_states() -> dict[str, Any]:
    """Every global generator this process draws from, in a form ``torch.load(weights_only=True)`` reads."""
    np_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"bit_generator": np_state["bit_generator"], "key": torch.from_numpy(np_state["state"]["key"].copy()),
                  "pos": np_state["state"]["pos"], "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    n = states["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"], "state": {"key": n["key"].numpy(), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:06d}"


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The directory ``latest`` points to, or None when the run has no checkpoint yet."""
    pointer = Path(root) / LATEST
    if not pointer.is_file():
        return None
    path = Path(root) / pointer.read_text().strip()
    if not (path / "state.json").is_file():
        raise ReproError(f"checkpoint pointer {pointer} names {path}, which is missing or incomplete")
    return path


Pairs = dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]


def _state_dicts(model: torch.nn.Module, optimizer: torch.optim.Optimizer, extra: Pairs | None) -> dict[str, Any]:
    _, get_state_dict, _ = _dcp()
    out: dict[str, Any] = {}
    for name, (m, o) in {"model": (model, optimizer), **(extra or {})}.items():
        out[name], out[f"{name}_optim" if name != "model" else "optim"] = get_state_dict(m, o)
    return out


def save_checkpoint(root: str | os.PathLike, iteration: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, state: dict[str, Any], keep_last: int = 2,
                    extra: Pairs | None = None) -> Path:
    """Write checkpoint ``iteration`` (model, optimiser, ``extra`` {name: (model, optimiser)}, RNG
    states, ``state``) and point ``latest`` at it."""
    dcp, _, _ = _dcp()
    root = Path(root)
    final = root / checkpoint_name(iteration)
    tmp = root / (final.name + ".tmp")
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*assuming the intent is to save in a single process")
        dcp.save(_state_dicts(model, optimizer, extra), checkpoint_id=str(tmp))
    torch.save(rng_states(), tmp / f"rng_rank{_rank()}.pt")
    _barrier()
    if _rank() == 0:
        atomic_write_json(tmp / "state.json", {"iteration": iteration, **state})
        shutil.rmtree(final, ignore_errors=True)  # left by a run that crashed before moving `latest` on
        os.replace(tmp, final)
        atomic_write_text(root / LATEST, final.name + "\n")
        for old in sorted(root.glob("iter_*[0-9]"))[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return final


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, extra: Pairs | None = None) -> dict[str, Any]:
    """Restore model, optimiser, ``extra`` pairs and this rank's RNG states from ``path`` (saved on
    any number of ranks); returns ``state.json``."""
    dcp, _, set_state_dict = _dcp()
    path = Path(path)
    target = _state_dicts(model, optimizer, extra)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*assuming the intent is to load in a single process")
        try:
            dcp.load(target, checkpoint_id=str(path))
        except Exception as e:  # DCP wraps a missing key (e.g. no critic in a GRPO checkpoint) in its own error
            reason = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            raise ReproError(f"cannot load checkpoint {path} into this run: {reason}") from e
    for name, (m, o) in {"model": (model, optimizer), **(extra or {})}.items():
        set_state_dict(m, o, model_state_dict=target[name],
                       optim_state_dict=target["optim" if name == "model" else f"{name}_optim"])
    rng_file = path / f"rng_rank{_rank()}.pt"
    if not rng_file.is_file():
        rng_file = path / "rng_rank0.pt"
    if not rng_file.is_file():
        raise ReproError(f"checkpoint {path} has no RNG state (rng_rank0.pt is missing)")
    set_rng_states(torch.load(rng_file, weights_only=True))
    return json.loads((path / "state.json").read_text())
