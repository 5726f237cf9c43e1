"""Checkpoints that resume bit-exactly: ``<run>/checkpoints/iter_000004/`` + a ``latest`` pointer.

Layout of one checkpoint:
  * model + optimiser (and any ``extra`` pair, e.g. PPO's critic and its optimiser):
    ``torch.distributed.checkpoint`` (DCP) files (``.metadata``, ``__R_0.distcp``), so the same code
    saves sharded FSDP2 state under torchrun and reshards on load: a run saved on N ranks resumes on
    M ranks; single-process runs use DCP's no-process-group mode;
  * ``rng_rank{R}.pt``: python / numpy / torch (CPU and CUDA) global generator states of rank R
    (a rank the saving run did not have takes rank 0's: the trainer draws its random choices from
    per-iteration seeds, so these states only guard code outside it);
  * ``state.json``: the iteration and the trainer's own state (task sampler, env seeds, ...);
  * ``manifest.json``, written last: each other file's size and sha256.

A checkpoint is written to ``iter_N.tmp/``, renamed to ``iter_N/``, and only then is ``latest``
(a one-line text file naming the directory) replaced atomically: a crash at any point leaves the
previous checkpoint as the one that is loaded. A save that fails (no space left, ...) removes its
``.tmp`` directory and stops the run with one line.

Resuming (:func:`resume_checkpoint`) checks the checkpoint ``latest`` names against its manifest
and its ``state.json`` against its directory name; one that fails is reported in one line and the
previous intact one is used, and when none is intact the run stops with one line. Loading reads
DCP's pickled ``.metadata`` with an unpickler that admits only DCP's metadata classes, and its
pickled non-tensor values with ``weights_only``: a checkpoint from elsewhere (shared storage, a
colleague's run) cannot run code, whatever its manifest says.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pickle
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.errors import ReproError
from repro.io import SPACE_ERRNOS, atomic_write_json, atomic_write_text, space_error

LATEST = "latest"
MANIFEST = "manifest.json"
STATE = "state.json"


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
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ReproError(f"checkpoint pointer {pointer} is unreadable ({type(e).__name__}); "
                         f"pass --fresh to start over") from e
    path = Path(root) / name
    if not name.startswith("iter_") or "/" in name or not (path / STATE).is_file():
        raise ReproError(f"checkpoint pointer {pointer} names {path}, which is missing or incomplete")
    return path


def file_digests(directory: Path) -> dict[str, dict[str, Any]]:
    """{file name: {"size", "sha256"}} of every file in ``directory`` but the manifest."""
    out = {}
    for file in sorted(directory.iterdir()):
        if file.name != MANIFEST and file.is_file():
            digest = hashlib.sha256()
            with open(file, "rb") as f:
                for block in iter(functools.partial(f.read, 1 << 20), b""):
                    digest.update(block)
            out[file.name] = {"size": file.stat().st_size, "sha256": digest.hexdigest()}
    return out


def checkpoint_iteration(path: Path) -> int | None:
    digits = path.name.removeprefix("iter_")
    return int(digits) if path.name.startswith("iter_") and digits.isdigit() else None


def verify_checkpoint(path: Path) -> dict[str, Any]:
    """``state.json`` of checkpoint ``path`` once every file matches the manifest and the state
    names the directory's iteration; else :class:`ReproError` saying what is wrong."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        expected = manifest["files"]
    except FileNotFoundError:
        raise ReproError(f"{path} has no {MANIFEST} (its save never finished)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReproError(f"{path}/{MANIFEST} is unreadable ({type(e).__name__})") from None
    actual = file_digests(path)
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            raise ReproError(f"{path}/{name} is missing")
        if name not in expected:
            raise ReproError(f"{path}/{name} is not in its manifest")
        if actual[name] != expected[name]:
            what = "size" if actual[name]["size"] != expected[name].get("size") else "sha256"
            raise ReproError(f"{path}/{name} does not match its manifest ({what} differs)")
    try:
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        iteration = state["iteration"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReproError(f"{path}/{STATE} is unreadable ({type(e).__name__})") from None
    if iteration != checkpoint_iteration(path):
        raise ReproError(f"{path}/{STATE} says iteration {iteration!r}, its directory {path.name}")
    return state


def resume_checkpoint(root: str | os.PathLike, log: Any = None) -> Path | None:
    """The checkpoint to resume from: the one ``latest`` names if intact, else the newest intact
    one before it (``log`` says which was skipped and why); None when there is no checkpoint yet.
    A pointer whose checkpoints are all damaged stops the run with one line."""
    root = Path(root)
    if not (root / LATEST).is_file():
        return None
    try:
        newest = latest_checkpoint(root)
        bound = checkpoint_iteration(newest)
    except ReproError as e:
        if log is not None:
            log(f"{e}; looking for the newest intact checkpoint")
        newest, bound = None, None
    older = sorted((p for p in root.glob("iter_*") if p.is_dir() and checkpoint_iteration(p) is not None
                    and (bound is None or checkpoint_iteration(p) < bound)), key=checkpoint_iteration, reverse=True)
    problems = []
    for candidate in ([newest] if newest is not None else []) + older:
        try:
            verify_checkpoint(candidate)
        except ReproError as e:
            problems.append(str(e))
            if log is not None:
                log(f"checkpoint {candidate.name} is damaged: {e}")
            continue
        if problems and log is not None:
            log(f"resuming from {candidate.name}, the newest intact checkpoint")
        return candidate
    raise ReproError(f"no intact checkpoint in {root} ({'; '.join(problems) or 'none found'}); "
                     f"pass --fresh to start over")


# What DCP's .metadata pickle may name: its metadata dataclasses and enums, torch sizes, dtypes and
# layouts, and the paths it records. Anything else (os.system, builtins.eval, ...) is refused.
_METADATA_CLASSES = {
    ("torch.distributed.checkpoint.metadata", name) for name in (
        "Metadata", "MetadataIndex", "StorageMeta", "TensorProperties", "TensorStorageMetadata",
        "BytesStorageMetadata", "ChunkStorageMetadata", "_MEM_FORMAT_ENCODING")
} | {("torch.distributed.checkpoint.filesystem", "_StorageInfo"), ("torch", "Size"),
     ("torch.serialization", "_get_layout"), ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"),
     ("collections", "OrderedDict")}


class _MetadataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _METADATA_CLASSES or (module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a checkpoint metadata class")


@functools.cache
def _safe_dcp_io() -> tuple[type, type]:
    """(storage reader, load planner) classes that read a checkpoint without running its code."""
    from torch.distributed.checkpoint import DefaultLoadPlanner, FileSystemReader
    from torch.distributed.checkpoint.metadata import Metadata, StorageMeta

    class SafeReader(FileSystemReader):
        """Reads ``.metadata`` once, through :class:`_MetadataUnpickler`; ``load_checkpoint``
        calls it first, so a refusal is ours to report (inside ``dcp.load`` DCP would log it
        with a traceback and raise something else)."""

        metadata: Metadata | None = None

        def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
            if self.metadata is None:
                with self.fs.create_stream(self._get_metadata_path(), "rb") as f:
                    metadata = _MetadataUnpickler(f).load()
                if not isinstance(metadata, Metadata):
                    raise pickle.UnpicklingError(f".metadata holds a {type(metadata).__name__}, not DCP metadata")
                if getattr(metadata, "storage_meta", None) is None:
                    metadata.storage_meta = StorageMeta()
                self.metadata = metadata
            self.metadata.storage_meta.load_id = self.load_id
            return self.metadata

    class SafePlanner(DefaultLoadPlanner):
        def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
            torch.load(value, weights_only=True)  # refuses anything but plain values before DCP unpickles it
            value.seek(0)
            super().load_bytes(read_item, value)

    return SafeReader, SafePlanner


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
    from torch.distributed.checkpoint.api import CheckpointException

    dcp, _, _ = _dcp()
    root = Path(root)
    final = root / checkpoint_name(iteration)
    tmp = root / (final.name + ".tmp")
    state_dicts = _state_dicts(model, optimizer, extra)
    try:
        if _rank() == 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        _barrier()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*assuming the intent is to save in a single process")
            dcp.save(state_dicts, checkpoint_id=str(tmp))
        torch.save(rng_states(), tmp / f"rng_rank{_rank()}.pt")
        _barrier()
        if _rank() == 0:
            atomic_write_json(tmp / STATE, {"iteration": iteration, **state})
            atomic_write_json(tmp / MANIFEST, {"files": file_digests(tmp)})
            shutil.rmtree(final, ignore_errors=True)  # left by a run that crashed before moving `latest` on
            os.replace(tmp, final)
            atomic_write_text(root / LATEST, final.name + "\n")
            for old in sorted(root.glob("iter_*[0-9]"))[:-keep_last] if keep_last > 0 else []:
                shutil.rmtree(old, ignore_errors=True)
        _barrier()
    except (Exception, CheckpointException) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        cause = root_cause(e)
        if isinstance(cause, ReproError):
            raise cause from e
        if isinstance(cause, OSError) and cause.errno in SPACE_ERRNOS:
            raise space_error(cause.strerror, tmp, _state_bytes(state_dicts)) from e
        if isinstance(cause, RuntimeError) and "unexpected pos" in str(cause):  # torch.save's word for a short write
            raise space_error("a write came up short (no space left, or a file-size limit)", tmp,
                              _state_bytes(state_dicts)) from e
        raise ReproError(f"cannot save checkpoint {final}: {one_line(cause)}") from e
    return final


def _state_bytes(state_dicts: dict[str, Any]) -> int:
    """What the tensors of a checkpoint occupy (its size, give or take the metadata)."""
    total = 0

    def add(node: Any) -> None:
        nonlocal total
        if isinstance(node, torch.Tensor):
            total += node.numel() * node.element_size()
        elif isinstance(node, dict):
            for v in node.values():
                add(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                add(v)

    add(state_dicts)
    return total


def root_cause(e: BaseException) -> BaseException:
    """The error under DCP's wrapping (``CheckpointException`` holds each rank's as (error, trace))."""
    from torch.distributed.checkpoint.api import CheckpointException

    while isinstance(e, CheckpointException) and e.failures:
        e = next(iter(e.failures.values()))[0]
    return e


def one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[-1]}" if lines else type(e).__name__


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, extra: Pairs | None = None) -> dict[str, Any]:
    """Restore model, optimiser, ``extra`` pairs and this rank's RNG states from ``path`` (saved on
    any number of ranks); returns ``state.json``."""
    from torch.distributed.checkpoint.api import CheckpointException

    dcp, _, set_state_dict = _dcp()
    path = Path(path)
    target = _state_dicts(model, optimizer, extra)
    reader_cls, planner_cls = _safe_dcp_io()
    reader = reader_cls(str(path))
    try:
        reader.read_metadata()
    except pickle.UnpicklingError as e:
        raise ReproError(f"refusing checkpoint {path}: {e}") from e
    except Exception as e:  # missing, truncated, not a pickle
        raise ReproError(f"cannot load checkpoint {path}: its .metadata is unreadable ({one_line(e)})") from e
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*assuming the intent is to load in a single process")
        try:
            dcp.load(target, checkpoint_id=str(path), storage_reader=reader, planner=planner_cls())
        except (Exception, CheckpointException) as e:  # DCP wraps every failure (e.g. a missing key) in its own
            cause = root_cause(e)
            raise ReproError(f"cannot load checkpoint {path} into this run: {one_line(cause)}") from e
    for name, (m, o) in {"model": (model, optimizer), **(extra or {})}.items():
        set_state_dict(m, o, model_state_dict=target[name],
                       optim_state_dict=target["optim" if name == "model" else f"{name}_optim"])
    rng_file = path / f"rng_rank{_rank()}.pt"
    if not rng_file.is_file():
        rng_file = path / "rng_rank0.pt"
    if not rng_file.is_file():
        raise ReproError(f"checkpoint {path} has no RNG state (rng_rank0.pt is missing)")
    try:
        set_rng_states(torch.load(rng_file, weights_only=True))
        return json.loads((path / STATE).read_text(encoding="utf-8"))
    except Exception as e:
        raise ReproError(f"cannot load checkpoint {path}: {rng_file.name} or {STATE} is unreadable "
                         f"({one_line(e)})") from e
