from __future__ import annotations

import torch
from torch import nn

from bnbench.models import ModelIO, build_model
from bnbench.scenario import ModelConfig


def test_srcnn_915_shapes_and_layers():
    model = build_model(ModelConfig(arch="srcnn", norm="batch"), ModelIO(1, 1))
    # No padding: 33 - 8 (9x9) - 0 (1x1) - 4 (5x5) = 21.
    assert model(torch.zeros(2, 1, 33, 33)).shape == (2, 1, 21, 21)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.out_channels) for c in convs] == [((9, 9), 64), ((1, 1), 32), ((5, 5), 1)]
    # A norm after every conv but the last.
    assert [type(m).__name__ for m in model] == [
        "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"
    ]


def test_control_has_no_norm():
    model = build_model(ModelConfig(arch="srcnn", norm="none"), ModelIO(1, 1))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
