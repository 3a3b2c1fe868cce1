"""Normalization layers by name, with TensorFlow's batch-norm semantics where the paper relied on them.

A norm factory maps a channel count to a module; models call it after every conv but the last. The registry
holds one entry per scheme; variants pick one with `norm = "..."` and pass its parameters as model fields.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bnbench.errors import UserError
from bnbench.registry import Registry
from bnbench.scenario import ModelConfig

NormFactory = Callable[[int], nn.Module]

NORMS: Registry[Callable[[ModelConfig], NormFactory]] = Registry("norm")


def make_norm(config: ModelConfig) -> NormFactory:
    """The channel-count -> module factory for `config.norm`; UserError for an unknown name."""
    return NORMS.get(config.norm)(config)


@NORMS.register("none", "no normalization: the paper's control",
                aliases=("no", "off", "identity"))
def _none(config: ModelConfig) -> NormFactory:
    return lambda channels: nn.Identity()


@NORMS.register("batch", "batch normalization (Ioffe & Szegedy 2015), TF decay/eps and zero_debias_moving_mean",
                aliases=("batchnorm", "batch_norm", "batch-norm", "bn", "batchnorm2d"))
def _batch(config: ModelConfig) -> NormFactory:
    decay, eps = config.bn_decay, config.eps
    if config.zero_debias:
        return lambda channels: ZeroDebiasBatchNorm2d(channels, decay=decay, eps=eps)
    # TF's moving = decay*moving + (1-decay)*batch is PyTorch's running = (1-m)*running + m*batch, m = 1-decay.
    return lambda channels: nn.BatchNorm2d(channels, eps=eps, momentum=1.0 - decay)


class ZeroDebiasBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose moving mean is TensorFlow's `zero_debias_moving_mean=True`.

    Training normalizes with the batch mean and the biased batch variance, like any BN. The moving statistics:
      biased     = decay * biased + (1 - decay) * batch_mean      (biased starts at 0)
      t          = t + 1
      running_mean = biased / (1 - decay ** t)
      running_var  = decay * running_var + (1 - decay) * unbiased_batch_var   (plain EMA, starts at 1)
    `biased_mean` and `debias_steps` are buffers, so they are checkpointed with the model.
    """

    def __init__(self, num_features: int, decay: float = 0.999, eps: float = 1e-5) -> None:
        super().__init__(num_features, eps=eps, momentum=1.0 - decay)
        self.decay = decay
        self.register_buffer("biased_mean", torch.zeros(num_features))
        self.register_buffer("debias_steps", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        with torch.no_grad():
            stats = x.detach().float()
            mean = stats.mean(dim=(0, 2, 3))
            count = stats.numel() // stats.shape[1]
            var = stats.var(dim=(0, 2, 3), unbiased=count > 1)
            self.biased_mean.mul_(self.decay).add_(mean, alpha=1.0 - self.decay)
            self.debias_steps.add_(1)
            self.num_batches_tracked.add_(1)
            # On the device, in float64: no host sync per step, no precision loss as decay**t -> 0.
            correction = 1.0 - self.decay ** self.debias_steps.double()
            self.running_mean.copy_(self.biased_mean.double() / correction)
            self.running_var.mul_(self.decay).add_(var, alpha=1.0 - self.decay)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


@NORMS.register("group", "group normalization (Wu & He 2018): statistics per sample over `groups` channel groups",
                aliases=("groupnorm", "group_norm", "group-norm", "gn"))
def _group(config: ModelConfig) -> NormFactory:
    groups, eps = config.groups, config.eps

    def build(channels: int) -> nn.Module:
        if channels % groups:
            raise UserError(
                f"norm 'group': groups = {groups} does not divide a layer of {channels} channels; "
                f"set groups to a divisor of every normalized layer's width"
            )
        return nn.GroupNorm(groups, channels, eps=eps)

    return build


@NORMS.register("layer", "layer normalization (Ba, Kiros & Hinton 2016): per sample over all channels and pixels",
                aliases=("layernorm", "layer_norm", "layer-norm", "ln"))
def _layer(config: ModelConfig) -> NormFactory:
    # nn.LayerNorm needs a fixed (C, H, W), but evaluation runs on whole images of any size; one group over all
    # channels is the same statistics, with a per-channel gain and bias as conv nets use it (Wu & He, Fig. 2).
    return lambda channels: nn.GroupNorm(1, channels, eps=config.eps)


@NORMS.register("instance", "instance normalization (Ulyanov, Vedaldi & Lempitsky 2016): per sample and channel",
                aliases=("instancenorm", "instance_norm", "instance-norm", "in"))
def _instance(config: ModelConfig) -> NormFactory:
    return lambda channels: nn.InstanceNorm2d(channels, eps=config.eps, affine=True)


@NORMS.register("batchrenorm", "batch renormalization (Ioffe 2017): batch norm corrected by clipped r and d",
                aliases=("batch_renorm", "batch-renorm", "renorm", "brn"))
def _batchrenorm(config: ModelConfig) -> NormFactory:
    return lambda channels: BatchRenorm2d(
        channels,
        decay=config.bn_decay,
        eps=config.eps,
        rmax=config.rmax,
        dmax=config.dmax,
        warmup_steps=config.renorm_warmup,
        ramp_steps=config.renorm_ramp,
    )


def renorm_limits(step: torch.Tensor, rmax: float, dmax: float, warmup_steps: int, ramp_steps: int) -> tuple[
    torch.Tensor, torch.Tensor
]:
    """(rmax, dmax) at training step `step` (0-based): 1 and 0 during the warm-up, then linear up to the limits.

    Ioffe held rmax = 1, dmax = 0 for 5000 steps, then relaxed them to 3 and 5. A `ramp_steps` of 0 switches to
    the limits at once when the warm-up ends.
    """
    progress = (step.double() - warmup_steps) / max(ramp_steps, 1) if ramp_steps else (step >= warmup_steps).double()
    progress = progress.clamp(0.0, 1.0)
    return 1.0 + (rmax - 1.0) * progress, dmax * progress


class BatchRenorm2d(nn.BatchNorm2d):
    """Batch renormalization (Ioffe 2017, arXiv 1702.03275), Algorithm 1.

    In training, with the batch mean m_B, sigma_B = sqrt(biased batch variance + eps), and the moving
    mean and sigma = sqrt(running_var + eps):
      r = clip(sigma_B / sigma, 1/rmax, rmax),   d = clip((m_B - mean) / sigma, -dmax, dmax)   (no gradient)
      y = gamma * ((x - m_B) / sigma_B * r + d) + beta
    so with r = 1 and d = 0 it is batch norm, and inference (the moving statistics) sees the same scale and shift
    as training. Moving statistics update like `norm = "batch"` (TF decay; unbiased variance kept). The step that
    drives the rmax/dmax schedule is `num_batches_tracked`, a buffer, so a checkpoint resumes the schedule.
    """

    def __init__(
        self,
        num_features: int,
        decay: float = 0.9,
        eps: float = 1e-5,
        rmax: float = 3.0,
        dmax: float = 5.0,
        warmup_steps: int = 5000,
        ramp_steps: int = 20000,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=1.0 - decay)
        self.rmax, self.dmax = rmax, dmax
        self.warmup_steps, self.ramp_steps = warmup_steps, ramp_steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        with torch.no_grad():
            var, mean = torch.var_mean(x.detach().float(), dim=(0, 2, 3), unbiased=False)
            sigma_batch = torch.sqrt(var + self.eps)
            sigma = torch.sqrt(self.running_var + self.eps)
            rmax, dmax = renorm_limits(self.num_batches_tracked, self.rmax, self.dmax, self.warmup_steps,
                                       self.ramp_steps)
            r = torch.clamp(sigma_batch / sigma, 1.0 / rmax.to(sigma.dtype), rmax.to(sigma.dtype))
            d = torch.clamp((mean - self.running_mean) / sigma, -dmax.to(sigma.dtype), dmax.to(sigma.dtype))
            count = x.numel() // x.shape[1]
            unbiased_var = var * count / (count - 1) if count > 1 else var
            self.running_mean.add_(mean - self.running_mean, alpha=self.momentum)
            self.running_var.add_(unbiased_var - self.running_var, alpha=self.momentum)
            self.num_batches_tracked.add_(1)
        # r and d carry no gradient, so (x - m_B) / sigma_B * r + d is r * BN(x) + d: the fused kernel does the rest.
        shape = (1, -1, 1, 1)
        normalized = F.batch_norm(x, None, None, None, None, True, 0.0, self.eps) * r.view(shape) + d.view(shape)
        return normalized * self.weight.view(shape) + self.bias.view(shape)
