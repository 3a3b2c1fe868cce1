"""Batch norm with TensorFlow's parameters: decay -> momentum, and zero_debias_moving_mean exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bnbench.models.batchnorms import ZeroDebiasBatchNorm2d
from bnbench.models.norms import make_norm
from bnbench.scenario import ModelConfig


def batch(values: list[float]) -> torch.Tensor:
    """A (N, 1, 1, 1) batch: one channel, one value per sample."""
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1, 1, 1)


def test_decay_becomes_pytorch_momentum():
    layer = make_norm(ModelConfig(norm="batch", decay=0.9, eps=1e-5))(1)
    assert isinstance(layer, nn.BatchNorm2d) and layer.momentum == pytest.approx(0.1) and layer.eps == 1e-5
    layer.train()
    layer(batch([1.0, 2.0, 3.0, 6.0]))
    # mean 3; unbiased variance (4 + 1 + 0 + 9) / 3 = 14/3 is what the moving variance keeps.
    # TF: moving = 0.9 * moving + 0.1 * batch, from mean 0 and variance 1.
    assert layer.running_mean.item() == pytest.approx(0.1 * 3.0)
    assert layer.running_var.item() == pytest.approx(0.9 * 1.0 + 0.1 * 14 / 3)


def test_default_decay_is_tf_paper_setting():
    assert make_norm(ModelConfig(norm="batch"))(4).momentum == pytest.approx(0.1)


def test_zero_debias_is_chosen_by_the_flag():
    assert isinstance(make_norm(ModelConfig(norm="batch", decay=0.999, zero_debias=True))(3), ZeroDebiasBatchNorm2d)


def test_zero_debias_moving_mean_by_hand():
    layer = ZeroDebiasBatchNorm2d(1, decay=0.5, eps=1e-5).train()
    # Batches [m-1, m+1]: mean m, unbiased variance 2.
    expected = [
        # biased = 0.5*0 + 0.5*2 = 1;      mean = 1 / (1 - 0.5)      = 2
        # var    = 0.5*1 + 0.5*2 = 1.5
        (2.0, 2.0, 1.5),
        # biased = 0.5*1 + 0.5*4 = 2.5;    mean = 2.5 / (1 - 0.25)   = 3.3333
        # var    = 0.5*1.5 + 0.5*2 = 1.75
        (4.0, 2.5 / 0.75, 1.75),
        # biased = 0.5*2.5 + 0.5*6 = 4.25; mean = 4.25 / (1 - 0.125) = 4.857142857
        # var    = 0.5*1.75 + 0.5*2 = 1.875
        (6.0, 4.25 / 0.875, 1.875),
    ]
    for step, (m, mean, var) in enumerate(expected, start=1):
        layer(batch([m - 1.0, m + 1.0]))
        assert layer.running_mean.item() == pytest.approx(mean, rel=1e-6)
        assert layer.running_var.item() == pytest.approx(var, rel=1e-6)
        assert layer.debias_steps.item() == step
    assert layer.biased_mean.item() == pytest.approx(4.25)


def test_zero_debias_matches_tf_formula_over_many_steps():
    torch.manual_seed(0)
    decay = 0.999
    layer = ZeroDebiasBatchNorm2d(3, decay=decay).train()
    biased, var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for t in range(1, 51):
        x = torch.randn(4, 3, 5, 5) * 2 + 1
        layer(x)
        xd = x.double()
        biased = decay * biased + (1 - decay) * xd.mean(dim=(0, 2, 3))
        var = decay * var + (1 - decay) * xd.var(dim=(0, 2, 3), unbiased=True)
        assert torch.allclose(layer.running_mean.double(), biased / (1 - decay**t), atol=1e-5)
    assert torch.allclose(layer.running_var.double(), var, atol=1e-5)
    # Without debiasing the mean would still be 95% zero start: 1 - 0.999**50 = 0.0488 of the way.
    assert layer.running_mean.abs().mean() > 10 * (biased.abs().mean())


def test_zero_debias_normalizes_like_batch_norm():
    torch.manual_seed(1)
    x = torch.randn(8, 2, 4, 4)
    debiased = ZeroDebiasBatchNorm2d(2, decay=0.9).train()
    plain = nn.BatchNorm2d(2, momentum=0.1).train()
    assert torch.allclose(debiased(x), plain(x), atol=1e-6)
    # Eval mode normalizes with the stored statistics: (x - mean) / sqrt(var + eps).
    debiased.eval()
    expected = (x - debiased.running_mean[None, :, None, None]) / torch.sqrt(
        debiased.running_var[None, :, None, None] + 1e-5
    )
    assert torch.allclose(debiased(x), expected, atol=1e-5)


def test_zero_debias_state_is_in_the_state_dict():
    keys = set(ZeroDebiasBatchNorm2d(2).state_dict())
    assert {"running_mean", "running_var", "num_batches_tracked", "biased_mean", "debias_steps"} <= keys
