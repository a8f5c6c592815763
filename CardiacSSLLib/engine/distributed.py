"""Data-parallel training with ``torchrun`` (DDP): process group from the environment.

``torchrun --nproc_per_node N -m CardiacSSLLib.cli.pretrain ...`` sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT; :func:`init_from_env` joins the group (NCCL on CUDA,
Gloo on CPU). Without those variables everything runs as a single process. Only rank 0
writes logs and checkpoints.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(use_cuda: bool) -> DistInfo:
    """Join the process group described by the environment (no-op for a single process)."""
    if env_world_size() <= 1:
        return DistInfo()
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        log.info("joined process group: rank %d of %d (%s)", rank, world, backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def wrap(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP around the method when distributed; unused parameters (e.g. the decoder of
    encoder-only methods) are allowed."""
    if not info.enabled:
        return module
    ids = [device.index if device.index is not None else info.local_rank] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def sampler(n: int, info: DistInfo, seed: int) -> DistributedSampler:
    """Each rank's shard of a shuffled epoch over ``n`` frames (also used with one process)."""
    return DistributedSampler(
        range(n), num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed, drop_last=True
    )


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def mean_across(value: float, info: DistInfo, device: torch.device) -> float:
    """Average a scalar metric over ranks (for logging)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
