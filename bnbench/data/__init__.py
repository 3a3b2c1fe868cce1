"""Task registry: a task supplies training batches, a loss and an evaluation with its metric."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from bnbench.models import ModelIO
from bnbench.registry import Registry
from bnbench.scenario import TaskConfig


class Task(Protocol):
    """What the training loop needs from a task. Tensors live on the training device."""

    metric: str  # column name of the headline metric, e.g. "psnr_db"
    metric_label: str  # e.g. "PSNR (dB)"
    higher_is_better: bool
    references: tuple[str, ...]  # metrics of a non-learned reference, e.g. ("bicubic_psnr_db",)
    io: ModelIO

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One training batch (inputs, targets), drawn with `generator`."""
        ...

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The scalar training loss."""
        ...

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """The metric, `val_loss` and the references on the validation set, with the model in eval mode."""
        ...


TaskFactory = Callable[[TaskConfig, torch.device], Task]
TASKS: Registry[TaskFactory] = Registry("task")


def build_task(config: TaskConfig, device: torch.device) -> Task:
    """The task named by `config.name`, its data on `device`."""
    return TASKS.get(config.name)(config, device)


def task_metadata(config: TaskConfig) -> tuple[str, str, bool, tuple[str, ...]]:
    """(metric, label, higher_is_better, references) without loading any data."""
    factory = TASKS.get(config.name)
    return factory.metric, factory.metric_label, factory.higher_is_better, factory.references  # type: ignore[attr-defined]


from bnbench.data import superres as _superres  # noqa: E402,F401  (registers the built-in tasks)
