"""Classification of scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, nothing downloaded).

A fixed split, the same for every seed and machine: within each class, in dataset order, every 5th image is held
out for validation (360 images), the other 1,437 train. Pixels (0..16) are scaled to [0, 1]. Batches are drawn
with replacement on the training device. The metric is validation accuracy in percent, the loss cross-entropy;
the reference is the majority-class accuracy, what always answering the most common training label scores.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bnbench.data import TASKS
from bnbench.models import ModelIO
from bnbench.scenario import TaskConfig

HOLD_OUT_EVERY = 5
CLASSES = 10
SIDE_PX = 8


def stratified_split(labels: np.ndarray, every: int = HOLD_OUT_EVERY) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: within each class, in order, every `every`-th index is validation."""
    valid = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        valid[members[every - 1 :: every]] = True
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def majority_accuracy_pct(train_labels: np.ndarray, valid_labels: np.ndarray) -> float:
    """Validation accuracy in percent of always predicting the most common training label."""
    majority = np.bincount(train_labels).argmax()
    return 100.0 * float(np.mean(valid_labels == majority))


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 8, 8) float32 in [0, 1], labels (N,) int64) from scikit-learn's bundled copy."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


@TASKS.register("digits", "8x8 handwritten digits (scikit-learn), 10 classes: accuracy in %, cross-entropy loss")
class Digits:
    metric = "accuracy_pct"
    metric_label = "accuracy (%)"
    higher_is_better = True
    references = ("majority_accuracy_pct",)

    @staticmethod
    def model_io(config: TaskConfig) -> ModelIO:
        return ModelIO(1, CLASSES, scale=1, image_size=SIDE_PX)

    @staticmethod
    def check(config: TaskConfig) -> None:
        """Nothing can be missing: the digits ship inside scikit-learn's wheel."""

    def __init__(self, config: TaskConfig, device: torch.device) -> None:
        self.config = config
        self.io = self.model_io(config)
        images, labels = load_digits_arrays()
        train, valid = stratified_split(labels)
        self.majority_pct = majority_accuracy_pct(labels[train], labels[valid])
        as_tensor = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
        self.train_x, self.train_y = as_tensor(images[train][:, None]), as_tensor(labels[train])
        self.valid_x, self.valid_y = as_tensor(images[valid][:, None]), as_tensor(labels[valid])

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(len(self.train_y), (self.config.batch_size,), generator=generator,
                              device=self.train_y.device)
        return self.train_x[index], self.train_y[index]

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.float(), target)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        logits = model(self.valid_x).float()
        accuracy = (logits.argmax(dim=1) == self.valid_y).double().mean().item()
        return {
            self.metric: 100.0 * accuracy,
            "majority_accuracy_pct": self.majority_pct,
            "val_loss": F.cross_entropy(logits, self.valid_y).item(),
        }
