"""Synchronized batch norm: batch statistics reduced across the data-parallel replicas of one run.

With N replicas each holding batch_size / N samples, `norm = "syncbatch"` normalizes every replica's samples
with the mean and variance of the whole batch, so training matches plain batch norm on one device with the
whole batch. PyTorch's `nn.SyncBatchNorm` runs on CUDA only; this module all-reduces its statistics itself
(with an all-reduce whose backward all-reduces the gradient), so the same code runs over gloo on CPUs and
NCCL on GPUs. Outside a process group of size > 1 it is plain batch norm.

Per layer and training step: 2 all-reduces forward (sum and count, then squared deviations) and 2 backward.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def replica_count() -> int:
    """The size of the default process group; 1 outside one."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over replicas; the gradient of a sum over replicas is the sum of the replicas' gradients."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad)


def all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `tensor` over the replicas of the default process group, differentiably."""
    return _AllReduceSum.apply(tensor)


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the batch over every replica.

    Running statistics follow TF's decay exactly like `norm = "batch"`: running = decay * running +
    (1 - decay) * batch_stat, with the biased variance normalizing and the unbiased one kept (the count is the
    number of values per channel over all replicas).
    """

    num_batches_tracked: torch.Tensor  # a buffer once __init__ has run (nn.Module types it loosely)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or replica_count() == 1:
            return super().forward(x)
        stats = x if x.dtype == torch.float64 else x.float()
        channels = stats.shape[1]
        count = torch.full((1,), stats.numel() // channels, dtype=stats.dtype, device=stats.device)
        # One all-reduce for the sums and the count, then one for the squared deviations (two passes: the
        # sum-of-squares shortcut loses digits when the mean is large against the spread).
        totals = all_reduce(torch.cat([stats.sum(dim=(0, 2, 3)), count]))
        total_count = totals[channels].detach()
        mean = totals[:channels] / total_count
        centred = stats - mean[None, :, None, None]
        var = all_reduce((centred * centred).sum(dim=(0, 2, 3))) / total_count
        if self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                # Bessel's correction on the device: no host sync per layer and step.
                unbiased = var.detach() * total_count / (total_count - 1).clamp(min=1)
                momentum = 0.1 if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
                self.num_batches_tracked.add_(1)
        out = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out.to(x.dtype)

