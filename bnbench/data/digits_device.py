"""The digits on the training device: the fixed split and its majority-class reference, batches drawn with
replacement, the loss and the evaluation (the task itself, its metric and inputs, is bnbench.data.digits)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bnbench.models import ModelIO
from bnbench.scenario import TaskConfig

HOLD_OUT_EVERY = 5  # every 5th digit of each class is held out for validation


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


class DigitsOnDevice:
    """Training batches, the loss and the evaluation of the digits, on `device`; `io` and `metric` as the task
    (bnbench.data.digits) states them."""

    def __init__(self, config: TaskConfig, device: torch.device, io: ModelIO, metric: str) -> None:
        self.config = config
        self.io = io
        self.metric = metric
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
