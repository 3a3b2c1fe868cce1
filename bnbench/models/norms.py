"""Normalization layers by name, with TensorFlow's batch-norm semantics where the paper relied on them.

A norm factory maps a channel count to a module; models call it after every conv but the last. The registry
holds one entry per scheme; variants pick one with `norm = "..."` and pass its parameters as model fields.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bnbench.registry import Registry
from bnbench.scenario import ModelConfig

NormFactory = Callable[[int], nn.Module]

NORMS: Registry[Callable[[ModelConfig], NormFactory]] = Registry("norm")


def make_norm(config: ModelConfig) -> NormFactory:
    """The channel-count -> module factory for `config.norm`; UserError for an unknown name."""
    return NORMS.get(config.norm)(config)


@NORMS.register("none", "no normalization: the paper's control")
def _none(config: ModelConfig) -> NormFactory:
    return lambda channels: nn.Identity()


@NORMS.register("batch", "batch normalization (Ioffe & Szegedy 2015), TF decay/eps and zero_debias_moving_mean")
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
