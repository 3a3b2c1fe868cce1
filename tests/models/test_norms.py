"""Each normalization scheme against a direct computation on a small known tensor."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bnbench.errors import UserError
from bnbench.models.batchnorms import BatchRenorm2d, renorm_limits
from bnbench.models.norms import NORMS, make_norm
from bnbench.scenario import ModelConfig

EPS = 1e-5


def test_every_scheme_is_registered_with_a_doc():
    for name in ("none", "batch", "group", "layer", "instance", "batchrenorm"):
        assert name in NORMS and NORMS.doc(name)


def test_group_norm_matches_the_formula():
    # One sample, 4 channels of 2 pixels, 2 groups: group A = channels 0-1 = {0, 2, 4, 6}, mean 3,
    # biased variance (9 + 1 + 1 + 9) / 4 = 5; group B = channels 2-3 = {1, 1, 1, 5}, mean 2, variance
    # (1 + 1 + 1 + 9) / 4 = 3. Each value becomes (x - mean) / sqrt(variance + eps) (gain 1, bias 0 at init).
    x = torch.tensor([[[[0.0, 2.0]], [[4.0, 6.0]], [[1.0, 1.0]], [[1.0, 5.0]]]])
    layer = make_norm(ModelConfig(norm="group", groups=2, eps=EPS))(4)
    expected = torch.tensor(
        [[[[-3.0, -1.0]], [[1.0, 3.0]], [[-1.0, -1.0]], [[-1.0, 3.0]]]]
    ) / torch.tensor([math.sqrt(5 + EPS), math.sqrt(5 + EPS), math.sqrt(3 + EPS), math.sqrt(3 + EPS)]).view(1, 4, 1, 1)
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_group_count_must_divide_the_channels():
    with pytest.raises(UserError, match="groups = 32 does not divide a layer of 12 channels"):
        make_norm(ModelConfig(norm="group"))(12)


def test_layer_norm_is_per_sample_over_everything():
    # Sample 0 holds 1..8 over 2 channels x 2 x 2: mean 4.5, biased variance 5.25 (the variance of
    # 1..n is (n^2 - 1) / 12 = 63 / 12). Sample 1 is sample 0 times 10 plus 7: it normalizes to the same values.
    x0 = torch.arange(1.0, 9.0).view(1, 2, 2, 2)
    x = torch.cat([x0, 10 * x0 + 7])
    out = make_norm(ModelConfig(norm="layer", eps=EPS))(2)(x)
    assert torch.allclose(out[0], (x0[0] - 4.5) / math.sqrt(5.25 + EPS), atol=1e-6)
    assert torch.allclose(out[1], (x0[0] - 4.5) / math.sqrt(5.25 + 0.01 * EPS), atol=1e-6)


def test_instance_norm_is_per_sample_and_channel():
    # Channel 0 holds {1, 3}: mean 2, variance 1 -> -1, +1. Channel 1 holds {0.5, 0.5}: variance 0 -> 0, 0.
    x = torch.tensor([[[[1.0, 3.0]], [[0.5, 0.5]]]])
    layer = make_norm(ModelConfig(norm="instance", eps=EPS))(2)
    s = 1 / math.sqrt(1 + EPS)
    assert torch.allclose(layer(x), torch.tensor([[[[-s, s]], [[0.0, 0.0]]]]), atol=1e-6)
    assert sum(p.numel() for p in layer.parameters()) == 4  # a gain and a bias per channel


def _pair(config: ModelConfig, channels: int = 3) -> tuple[nn.BatchNorm2d, nn.Module]:
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(channels, eps=config.eps, momentum=1 - config.bn_decay)
    renorm = make_norm(config)(channels)
    with torch.no_grad():  # the same non-trivial gain and bias in both
        for layer in (bn, renorm):
            layer.weight.copy_(torch.tensor([1.5, 0.5, 2.0]))
            layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return bn, renorm


@pytest.mark.parametrize(
    "settings",
    [
        {"renorm_warmup": 100},  # inside the warm-up: rmax = 1, dmax = 0, so r = 1 and d = 0
        {"renorm_warmup": 0, "renorm_ramp": 0, "rmax": 1.0, "dmax": 0.0},  # clipping at rmax = 1, dmax = 0
    ],
)
def test_batch_renorm_is_batch_norm_when_r_is_1_and_d_is_0(settings):
    config = ModelConfig(norm="batchrenorm", decay=0.9, eps=EPS, **settings)
    bn, renorm = _pair(config)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):  # several steps, so the moving statistics are far from their start
        x = torch.randn(4, 3, 5, 5, generator=generator) * 3 + 2
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = bn(xa), renorm(xb)
        assert torch.allclose(ya, yb, atol=1e-5)
        (ya * ya.detach()).sum().backward()
        (yb * yb.detach()).sum().backward()
        assert torch.allclose(xa.grad, xb.grad, atol=1e-4)
    assert torch.allclose(bn.weight.grad, renorm.weight.grad, atol=1e-3)
    assert torch.allclose(bn.running_mean, renorm.running_mean, atol=1e-6)
    assert torch.allclose(bn.running_var, renorm.running_var, atol=1e-5)
    bn.eval()
    renorm.eval()
    x = torch.randn(2, 3, 4, 4, generator=generator)
    assert torch.allclose(bn(x), renorm(x), atol=1e-5)


def test_batch_renorm_r_and_d_by_hand():
    # One channel, moving mean 0 and variance 1 (their start), batch {0, 4}: mean 2, biased variance 4, so
    # sigma_B = 2 and sigma = 1: r = sigma_B / sigma = 2 and d = (2 - 0) / 1 = 2.
    x = torch.tensor([0.0, 4.0]).view(2, 1, 1, 1)
    unclipped = BatchRenorm2d(1, eps=1e-12, rmax=3.0, dmax=5.0, warmup_steps=0, ramp_steps=0)
    # (x - 2) / 2 * 2 + 2 = x: unclipped, training already sees what inference will: (x - 0) / 1.
    assert torch.allclose(unclipped(x).flatten(), torch.tensor([0.0, 4.0]), atol=1e-5)
    clipped = BatchRenorm2d(1, eps=1e-12, rmax=1.5, dmax=1.0, warmup_steps=0, ramp_steps=0)
    # r clipped to 1.5, d to 1: (0 - 2) / 2 * 1.5 + 1 = -0.5 and (4 - 2) / 2 * 1.5 + 1 = 2.5.
    assert torch.allclose(clipped(x).flatten(), torch.tensor([-0.5, 2.5]), atol=1e-5)
    # Moving statistics as in TF with decay 0.9: mean 0.1 * 2 = 0.2; variance 0.9 * 1 + 0.1 * 8 (unbiased) = 1.7.
    assert clipped.running_mean.item() == pytest.approx(0.2)
    assert clipped.running_var.item() == pytest.approx(1.7)


def test_renorm_schedule_holds_then_ramps():
    # Warm-up 10 steps at (1, 0); then linear over 20 steps to (3, 5): step 20 is half way, (2, 2.5).
    def limits(step: int, ramp: int = 20) -> tuple[float, float]:
        rmax, dmax = renorm_limits(torch.tensor(step), 3.0, 5.0, 10, ramp)
        return rmax.item(), dmax.item()

    assert limits(0) == (1.0, 0.0)
    assert limits(10) == (1.0, 0.0)
    assert limits(20) == pytest.approx((2.0, 2.5))
    assert limits(30) == pytest.approx((3.0, 5.0))
    assert limits(1000) == pytest.approx((3.0, 5.0))
    assert limits(9, ramp=0) == (1.0, 0.0) and limits(10, ramp=0) == (3.0, 5.0)


def test_batch_renorm_keeps_its_state_in_buffers():
    layer = make_norm(ModelConfig(norm="batchrenorm", renorm_warmup=2, renorm_ramp=4))(2)
    for _ in range(3):
        layer(torch.randn(4, 2, 3, 3))
    state = layer.state_dict()
    assert {"running_mean", "running_var", "num_batches_tracked"} <= set(state)
    assert state["num_batches_tracked"].item() == 3  # the schedule's step travels with a checkpoint
    fresh = make_norm(ModelConfig(norm="batchrenorm", renorm_warmup=2, renorm_ramp=4))(2)
    fresh.load_state_dict(state)
    assert fresh.num_batches_tracked.item() == 3 and torch.equal(fresh.running_var, layer.running_var)
