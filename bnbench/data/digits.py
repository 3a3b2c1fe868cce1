"""Classification of scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, nothing downloaded).

A fixed split, the same for every seed and machine: within each class, in dataset order, every 5th image is held
out for validation (360 images), the other 1,437 train. Pixels (0..16) are scaled to [0, 1]. Batches are drawn
with replacement on the training device. The metric is validation accuracy in percent, the loss cross-entropy;
the reference is the majority-class accuracy, what always answering the most common training label scores.

This module is the task as the registry and the checks know it, without torch or NumPy; the split, the batches
and the evaluation are bnbench.data.digits_device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnbench.data.tasks import TASKS
from bnbench.models import ModelIO
from bnbench.scenario import TaskConfig

if TYPE_CHECKING:
    import torch

    from bnbench.data.tasks import Task

CLASSES = 10
SIDE_PX = 8


@TASKS.register("digits", "8x8 handwritten digits (scikit-learn), 10 classes: accuracy in %, cross-entropy loss")
class Digits:
    metric = "accuracy_pct"
    metric_label = "accuracy (%)"
    higher_is_better = True
    references: tuple[str, ...] = ("majority_accuracy_pct",)

    @staticmethod
    def model_io(config: TaskConfig) -> ModelIO:
        return ModelIO(1, CLASSES, scale=1, image_size=SIDE_PX)

    @staticmethod
    def check(config: TaskConfig) -> None:
        """Nothing can be missing: the digits ship inside scikit-learn's wheel."""

    @staticmethod
    def load(config: TaskConfig, device: torch.device) -> Task:
        """The task with the digits on `device` (bnbench.data.digits_device)."""
        from bnbench.data.digits_device import DigitsOnDevice

        return DigitsOnDevice(config, device, Digits.model_io(config), Digits.metric)
