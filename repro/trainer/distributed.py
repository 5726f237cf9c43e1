"""Scale-out: the same ``repro train`` as one SPMD program under ``torchrun`` (docs/peers.md §4.2).

    torchrun --standalone --nproc-per-node 2 -m repro train -c benchmarks/gigpo/cpu/alfworld_grpo.yaml
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:PORT -m repro train ...

* the process group comes from torchrun's environment (gloo on CPU, NCCL on CUDA);
* the trained model is sharded with FSDP2: ``fully_shard`` on every transformer block (the model's
  ``_no_split_modules``) and on the root, over a 1-D mesh of the world; bf16 compute with fp32
  gradient reduction on CUDA, fp32 on CPU;
* whole task groups live on one rank (tasks ``[rank::world]``), so estimators never see another
  rank's rows; what crosses ranks is scalar metrics and the finished episodes' records (for
  samples.jsonl and exact episode metrics), never step rows or tensors of them;
* losses are normalised by the *global* mini-batch token count and back-propagated times the world
  size, so FSDP's gradient average over ranks equals the single-process gradient (gloo has no
  pre-scaled sum to turn the average off);
* every forward under FSDP is a collective, so all ranks run the same number of micro-batches
  (a rank short of rows runs a zero-weighted one) and generation happens on an unsharded copy of
  the weights that is refreshed after every update (as a vLLM engine would be).

World size 1 never touches torch.distributed: the trainer runs exactly as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from repro.errors import ReproError
from repro.seeding import derive_seed


@dataclass(frozen=True)
class Dist:
    """This process's place in the world; every reduction is the identity at world size 1."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collectives' tensors live: cpu (gloo) | cuda (NCCL)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _reduce(self, value: float, op) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t, op=op)
        return t.item()

    def sum(self, value: float) -> float:
        return self._reduce(value, torch.distributed.ReduceOp.SUM) if self.enabled else value

    def max(self, value: float) -> float:
        return self._reduce(value, torch.distributed.ReduceOp.MAX) if self.enabled else value

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (small, picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()


def init_distributed(model_device: str = "auto") -> Dist:
    """The process group of a torchrun launch (``WORLD_SIZE`` > 1), else world size 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    try:
        rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    except KeyError as e:
        raise ReproError(f"WORLD_SIZE={world} but {e.args[0]} is not set: launch with torchrun") from None
    cuda = model_device == "cuda" or (model_device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local_rank, "cuda" if cuda else "cpu")


def shard_model(model: torch.nn.Module, dist: Dist) -> torch.nn.Module:
    """FSDP2 in place: each transformer block and the root become one shard group over the world."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(dist.device, (dist.world,))
    # bf16 compute with fp32 master weights and fp32 gradient reduction on CUDA only (CPU: fp32)
    mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if dist.device == "cuda"
          else MixedPrecisionPolicy())
    if dist.device == "cuda":
        model.float()
    blocks = set(getattr(model, "_no_split_modules", None) or ())
    for module in list(model.modules()):
        if module is not model and type(module).__name__ in blocks:
            fully_shard(module, mesh=mesh, mp_policy=mp)
    fully_shard(model, mesh=mesh, mp_policy=mp)
    return model


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Unsharded weights on every rank (a collective under FSDP): what a sampler loads."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))


def scalar(value: torch.Tensor) -> float:
    """``.item()`` of a plain or distributed (DTensor) scalar, e.g. FSDP's global grad norm."""
    return (value.full_tensor() if hasattr(value, "full_tensor") else value).item()


def torchrun_argv(python: str, argv: list[str], nproc: int) -> list[str]:
    """The command that re-runs ``repro <argv>`` as ``nproc`` torchrun processes (``--nproc`` dropped)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return [python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), "-m", "repro", *kept]


def rank_share(items: Sequence[Any], dist: Dist) -> list[Any]:
    """This rank's whole items (task groups): every ``world``-th one from ``rank``."""
    return list(items[dist.rank::dist.world])


def global_group(local_group: int, dist: Dist) -> int:
    """Index in the iteration's task list of this rank's ``local_group`` (inverse of :func:`rank_share`)."""
    return local_group * dist.world + dist.rank


def rank_seed(seed: int, rank: int) -> int:
    """A per-rank sampling seed; rank 0 keeps ``seed`` so world size 1 draws what it always drew."""
    return seed if rank == 0 else derive_seed(seed, rank)
