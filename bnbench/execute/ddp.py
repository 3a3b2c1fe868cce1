"""One run over several devices with DistributedDataParallel (`[scenario] gpus_per_run = N`).

A pool slot of N devices holds N worker processes, one per device, joined in one process group for the whole
session (NCCL on GPUs, gloo on CPUs). Each run is handed to all N; every rank trains it on its share of the
batch (`batch_size / N` samples, so the step sees the same number of samples as a one-device run) with the
loop in bnbench.train, which wraps the model in DDP (bnbench.replicas). Rank 0 runs the full driver: it
meters every device of the slot once and reports curves, power and the row. The other ranks train with
hooks that record nothing and never write a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from bnbench import checkpoint
from bnbench.errors import UserError
from bnbench.execute.resume import checkpoint_dir
from bnbench.results.store import run_dir
from bnbench.scenario import RunSpec
from bnbench.train import NullHooks, synchronize, train

# A collective that waits longer than this means a rank is gone: fail the run instead of hanging the night.
_TIMEOUT = dt.timedelta(minutes=10)


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def check_divisible(specs: Sequence[RunSpec], ranks: int) -> None:
    """UserError unless every run's batch splits evenly over `ranks` replicas."""
    for spec in specs:
        if spec.task.batch_size % ranks:
            raise UserError(
                f"run '{spec.run_id}': batch_size {spec.task.batch_size} does not split over gpus_per_run = "
                f"{ranks}; use a multiple of {ranks}"
            )


def rank_spec(spec: RunSpec, ranks: int) -> RunSpec:
    """The spec one of `ranks` replicas trains: its share of the batch, the rest unchanged."""
    if ranks == 1:
        return spec
    task = spec.task.model_copy(update={"batch_size": spec.task.batch_size // ranks})
    return dataclasses.replace(spec, task=task)


def join_group(rank: int, ranks: int, address: str, device: torch.device) -> tuple[int, ...]:
    """Join the slot's process group at `address` ('tcp://host:port'); every rank calls it once. Returns every
    rank's process id, in rank order (rank 0's meter counts their CPU time)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), init_method=address, rank=rank, world_size=ranks,
                            timeout=_TIMEOUT)
    pids: list[Any] = [None] * ranks
    dist.all_gather_object(pids, os.getpid())
    return tuple(int(p) for p in pids)


def leave_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class FollowerHooks(NullHooks):
    """Hooks of a rank other than 0: synchronized phase edges, the shared stop flag, nothing recorded."""

    def __init__(self, device: torch.device, stop: Any) -> None:
        self.device, self.stop = device, stop

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        synchronize(self.device)
        try:
            yield
        finally:
            synchronize(self.device)

    def should_stop(self) -> bool:
        return bool(self.stop.is_set())


def resume_state(plan: Any, root: Path, run_id: str) -> dict[str, Any] | None:
    """The checkpoint state a follower resumes from: the one rank 0's driver picks (the newest intact one) for
    the same `plan`, loaded before the run's first collective, so rank 0 cannot have written a newer one."""
    if plan is None or plan.action == "skip" or not run_dir(root, run_id).exists():
        return None
    _, state, _ = checkpoint.load_latest(checkpoint_dir(root, run_id), checkpoint.TRAINING_KEYS)
    return state


def follow(spec: RunSpec, device: torch.device, stop: Any, resume: dict[str, Any] | None = None) -> None:
    """Train `spec` as a rank other than 0. A rank that fails exits its process: its closed connections fail
    rank 0's next collective at once, and rank 0 reports the run as failed (a rank left alive would make the
    others wait for it until the collective timeout)."""
    try:
        train(spec, device, FollowerHooks(device, stop), resume=resume)
    except Exception:  # noqa: BLE001 - reported by rank 0; this process ends
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
