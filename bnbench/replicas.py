"""Data parallelism as the training loop sees it: this process is one of N replicas training one run.

Outside a process group (the usual case) everything here is the identity and costs nothing. Inside one (a run
with `gpus_per_run = N`, started by bnbench.execute.ddp), the model is wrapped in DistributedDataParallel, each
replica draws its own patches, the logged loss is the mean over replicas (so every replica sees the same values
and detects divergence at the same step), and a stop (signal or wall-clock budget) is agreed on by all of them,
because a replica that stops alone leaves the others waiting in the next gradient all-reduce.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist
from torch import nn

# A different patch stream per replica; replica 0 draws exactly what a single-device run draws.
_SEED_STRIDE = 1_000_003

_NO_STOP, _STOP_OTHER, _STOP_INTERRUPTED = 0, 1, 2


@functools.cache
def _control_group() -> dist.ProcessGroup | None:
    """A CPU (gloo) group for stop flags, so agreeing on them never waits for the GPU; made once per process
    (creating a group is itself a collective)."""
    return dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None


class Replicas:
    """This process's place among the replicas of one run: rank `rank` of `world_size` (0 of 1 when alone)."""

    def __init__(self, rank: int = 0, world_size: int = 1, control: dist.ProcessGroup | None = None) -> None:
        self.rank, self.world_size, self.control = rank, world_size, control

    @classmethod
    def current(cls) -> Replicas:
        """The replicas of the default process group, or a single replica when there is none."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return cls()
        return cls(dist.get_rank(), dist.get_world_size(), _control_group())

    @property
    def parallel(self) -> bool:
        return self.world_size > 1

    def seed(self, seed: int) -> int:
        """The seed of this replica's data stream."""
        return seed + _SEED_STRIDE * self.rank

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """`model` wrapped in DistributedDataParallel (it broadcasts replica 0's weights), or `model` alone."""
        if not self.parallel:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index or 0] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a scalar over the replicas (no host sync on GPUs)."""
        if not self.parallel:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def agree(self, stop: str, interrupted: str) -> str:
        """The stop reason every replica acts on: '' only when none of them wants to stop; `interrupted` when any
        was interrupted; else this replica's own reason, or that of another one."""
        if not self.parallel:
            return stop
        code = _NO_STOP if not stop else _STOP_INTERRUPTED if stop == interrupted else _STOP_OTHER
        flag = torch.tensor([code], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.control)
        agreed = int(flag.item())
        if agreed == _STOP_INTERRUPTED:
            return interrupted
        if agreed == _STOP_OTHER:
            return stop or "another replica reached the wall-clock budget"
        return ""
