"""The task registry and the two faces of a task: its kind (metric, inputs, data checks; no torch) and its device
half (batches, loss, evaluation). The bottom of bnbench.data: each bundled task imports it to register itself,
and the package imports the tasks, never the other way round."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bnbench.models import ModelIO
from bnbench.registry import Registry
from bnbench.scenario import TaskConfig

if TYPE_CHECKING:
    import torch
    from torch import nn


class TaskKind(Protocol):
    """A registered task as its class: what it is and what it feeds a model, without its data or torch."""

    metric: str  # column name of the headline metric, e.g. "psnr_db"
    metric_label: str  # e.g. "PSNR (dB)"
    higher_is_better: bool
    references: tuple[str, ...]  # metrics of a non-learned reference, e.g. ("bicubic_psnr_db",)

    @staticmethod
    def model_io(config: TaskConfig) -> ModelIO:
        """What the task feeds a model, without loading data."""
        ...

    @staticmethod
    def check(config: TaskConfig) -> None:
        """UserError for anything wrong with the data, from file headers only."""
        ...

    @staticmethod
    def load(config: TaskConfig, device: torch.device) -> Task:
        """The task with its data on `device` (the one step that imports torch)."""
        ...


class Task(Protocol):
    """What the training loop needs from a task: its device half (TaskKind.load builds it). Tensors live on
    the training device."""

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


TASKS: Registry[type[TaskKind]] = Registry("task")
