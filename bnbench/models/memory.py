"""How much memory a training run needs, estimated from its model's shapes before it starts, and the check that
refuses a run that cannot fit its device: `batch_size = 1000000000` is one line, not the kernel's OOM killer.

The estimate is a floor, not a prediction: the shapes of one training batch through the model
(bnbench.models.probe: a bundled architecture's plan walked, a user's model run on the meta device), counting
  - every module's output (the activations autograd keeps for the backward pass) twice: kept, and their
    gradients during the backward pass;
  - the batch itself: input and target;
  - the parameters four times: weights, gradients and Adam's two moments.
Workspace, the allocator's caching and the evaluation pass come on top, so a run refused here could never
have run, while one that passes may still run out of memory (the run then fails alone, with a hint).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bnbench.errors import UserError
from bnbench.models.probe import FLOAT_BYTES, probe
from bnbench.models.registry import ModelIO
from bnbench.scenario import COMMAND, RunSpec, TaskConfig

GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training step needs at least: activations (with their gradients), the batch, and the
    parameters with their gradients and optimizer state."""

    activations: int
    batch: int
    parameters: int

    @property
    def total(self) -> int:
        return self.activations + self.batch + self.parameters


def estimate(spec: RunSpec, io_of: Callable[[TaskConfig], ModelIO]) -> MemoryEstimate | None:
    """The floor for one training step of `spec` at its batch size, its task feeding the model `io_of(task)`;
    None when the task fixes no input size or the run is someone else's command (bnbench builds no model to
    weigh)."""
    if spec.task.name == COMMAND:
        return None
    io = io_of(spec.task)
    shapes = probe(spec.model, io, spec.task.batch_size)
    if shapes is None or io.image_size is None:  # the task fixes no input size (both or neither)
        return None
    # the input, and a target like the output
    batch = spec.task.batch_size * io.in_channels * io.image_size**2 + shapes.output
    parameters = 4 * shapes.parameters * FLOAT_BYTES
    return MemoryEstimate(2 * shapes.activations * FLOAT_BYTES, batch * FLOAT_BYTES, parameters)


def capacity_bytes(device: str) -> int | None:
    """Total memory of `device` ('cpu': this host's RAM; 'cuda:N': that GPU's), None when it cannot be read."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
        index = int(device.partition(":")[2] or 0)
        return int(torch.cuda.get_device_properties(index).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def check_memory(specs: Iterable[RunSpec], devices: list[str], io_of: Callable[[TaskConfig], ModelIO],
                 source: str = "") -> None:
    """UserError for the first distinct variant whose training step cannot fit in the smallest of `devices`;
    `io_of` says what a task feeds a model (bnbench.data.task_io: the tasks sit above the models)."""
    sizes = [(d, c) for d in dict.fromkeys(devices) if (c := capacity_bytes(d)) is not None]
    if not sizes:
        return
    device, capacity = min(sizes, key=lambda item: item[1])
    seen: set[str] = set()
    for spec in specs:
        if spec.variant in seen:
            continue
        seen.add(spec.variant)
        need = estimate(spec, io_of)
        if need is None or need.total <= capacity:
            continue
        where = f"{source}: " if source else ""
        raise UserError(
            f"{where}variant '{spec.variant}' needs at least {need.total / GIB:.1f} GiB per training step "
            f"(batch_size {spec.task.batch_size}: {need.activations / GIB:.1f} GiB of activations and their "
            f"gradients) but {device} has {capacity / GIB:.1f} GiB; lower task.batch_size"
        )
