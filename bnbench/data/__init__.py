"""Task registry: a task supplies training batches, a loss and an evaluation with its metric.

A registered task is a class whose metric, model inputs and data checks need no torch (`bnbench validate`
imports none); its `load` builds the task's data on the training device from a module that does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bnbench.models import ModelIO
from bnbench.registry import Registry
from bnbench.scenario import COMMAND, TaskConfig

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


class Task(TaskKind, Protocol):
    """What the training loop needs from a task. Tensors live on the training device."""

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


def build_task(config: TaskConfig, device: torch.device) -> Task:
    """The task named by `config.name`, its data on `device`."""
    return TASKS.get(config.name).load(config, device)


def task_metadata(config: TaskConfig) -> tuple[str, str, bool, tuple[str, ...]]:
    """(metric, label, higher_is_better, references) without loading any data. A command's are its scenario's."""
    if config.name == COMMAND:
        assert config.metric is not None and config.higher_is_better is not None  # validated by the scenario
        return config.metric, config.metric, config.higher_is_better, ()
    kind = TASKS.get(config.name)
    return kind.metric, kind.metric_label, kind.higher_is_better, kind.references


def task_io(config: TaskConfig) -> ModelIO:
    """What the task feeds a model (channels, upsampling factor, input size), without loading any data."""
    return TASKS.get(config.name).model_io(config)


def check_task(config: TaskConfig) -> None:
    """Whatever can be wrong with the task's data, as a UserError, from file headers only (no training data)."""
    TASKS.get(config.name).check(config)


from bnbench.data import digits as _digits  # noqa: E402,F401  (registers the built-in tasks)
from bnbench.data import superres as _superres  # noqa: E402,F401
