"""Task registry: a task supplies training batches, a loss and an evaluation with its metric.

A registered task is a class whose metric, model inputs and data checks need no torch (`bnbench validate`
imports none); its `load` builds the task's data on the training device from a module that does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnbench.data import digits as _digits  # noqa: F401  (registers the built-in tasks)
from bnbench.data import superres as _superres  # noqa: F401
from bnbench.data.tasks import TASKS, Task, TaskKind
from bnbench.models import ModelIO
from bnbench.scenario import COMMAND, TaskConfig

if TYPE_CHECKING:
    import torch

__all__ = ["TASKS", "Task", "TaskKind", "build_task", "check_task", "task_io", "task_metadata"]


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

