"""The digits classification task: its fixed split, its reference, batches and evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bnbench.data import build_task, task_io, task_metadata
from bnbench.data.digits_device import majority_accuracy_pct, stratified_split
from bnbench.scenario import TaskConfig

CPU = torch.device("cpu")


def test_stratified_split_takes_every_fifth_of_each_class():
    labels = np.array([0] * 5 + [1] * 10)
    train, valid = stratified_split(labels)
    # Class 0 is indices 0-4: its 5th (index 4) is held out; class 1 is 5-14: its 5th and 10th (9, 14).
    assert valid.tolist() == [4, 9, 14]
    assert len(train) == 12 and not set(train) & set(valid)


def test_majority_accuracy():
    # The most common training label is 0; validation holds one 0 in four labels: 25%.
    assert majority_accuracy_pct(np.array([0, 0, 1]), np.array([0, 1, 1, 1])) == pytest.approx(25.0)


def test_metadata_without_loading_data():
    config = TaskConfig(name="digits")
    assert task_metadata(config) == ("accuracy_pct", "accuracy (%)", True, ("majority_accuracy_pct",))
    io = task_io(config)
    assert (io.in_channels, io.out_channels, io.image_size) == (1, 10, 8)


@pytest.fixture(scope="module")
def digits():
    return build_task(TaskConfig(name="digits", batch_size=16), CPU)


def test_split_sizes_and_reference(digits):
    # Class sizes 178, 182, 177, 183, 181, 182, 181, 179, 174, 180: every 5th of each is floor(n / 5) images,
    # 35+36+35+36+36+36+36+35+34+36 = 355 held out of 1,797, 1,442 left to train. The biggest training class is
    # 3 (183 - 36 = 147), and 36 of the 355 validation digits are 3s: 36 / 355 = 10.14%.
    assert len(digits.train_y) == 1442 and len(digits.valid_y) == 355
    assert digits.majority_pct == pytest.approx(100 * 36 / 355)
    assert float(digits.train_x.min()) == 0.0 and float(digits.train_x.max()) == 1.0  # pixels 0..16 / 16


def test_batches_follow_the_generator(digits):
    x1, y1 = digits.batch(torch.Generator().manual_seed(3))
    x2, y2 = digits.batch(torch.Generator().manual_seed(3))
    assert x1.shape == (16, 1, 8, 8) and y1.shape == (16,) and y1.dtype == torch.long
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


class Constant(nn.Module):
    """Logits that ignore the image."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


def test_evaluate_scores_accuracy_and_cross_entropy(digits):
    # Equal logits: cross-entropy ln 10 for every digit; argmax picks class 0, and 35 of 355 are 0s.
    flat = digits.evaluate(Constant([0.0] * 10))
    assert flat["val_loss"] == pytest.approx(math.log(10))
    assert flat["accuracy_pct"] == pytest.approx(100 * 35 / 355)
    # Always answering 3 scores exactly the majority-class reference.
    threes = digits.evaluate(Constant([0.0, 0.0, 0.0, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    assert threes["accuracy_pct"] == pytest.approx(threes["majority_accuracy_pct"])


def test_loss_is_cross_entropy(digits):
    # Logits (0, ln 3) for the right class 1: softmax 3/4, cross-entropy -ln(3/4).
    loss = digits.loss(torch.tensor([[0.0, math.log(3)]]), torch.tensor([1]))
    assert loss.item() == pytest.approx(-math.log(0.75))
