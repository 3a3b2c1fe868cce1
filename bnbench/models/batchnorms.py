"""Batch norm with TensorFlow's semantics where the paper relied on them (`norm = "batch"` with
`zero_debias`), and batch renormalization (`norm = "batchrenorm"`): the modules behind bnbench.models.norms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ZeroDebiasBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose moving mean is TensorFlow's `zero_debias_moving_mean=True`.

    Training normalizes with the batch mean and the biased batch variance, like any BN. The moving statistics:
      biased     = decay * biased + (1 - decay) * batch_mean      (biased starts at 0)
      t          = t + 1
      running_mean = biased / (1 - decay ** t)
      running_var  = decay * running_var + (1 - decay) * unbiased_batch_var   (plain EMA, starts at 1)
    `biased_mean` and `debias_steps` are buffers, so they are checkpointed with the model.
    """

    # Buffers and hyperparameters as they are once __init__ has run (nn.Module types them loosely).
    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor
    biased_mean: torch.Tensor
    debias_steps: torch.Tensor

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

    # Buffers and hyperparameters as they are once __init__ has run (nn.Module types them loosely).
    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor
    momentum: float

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
