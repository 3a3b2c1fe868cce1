"""A run's math mode and backend flags, set explicitly in every process that trains, and recorded.

PyTorch's defaults are not what "fp32" says: cuDNN convolutions run in TF32 on Ampere and newer GPUs
(`torch.backends.cudnn.allow_tf32` is True by default), and `cudnn.benchmark` picks algorithms by timing them.
Two variants that differ in a flag left to chance are not a fair comparison, so every run sets all of them from
its `[train]` keys (`precision`, `channels_last`, `cudnn_benchmark`, `threads`) and the manifest records them:

- `fp32`: full IEEE fp32, TF32 off for matmuls and convolutions, float32 matmul precision "highest";
- `tf32`: TF32 on for both (matmul precision "high"), fp32 tensors;
- `bf16`: TF32 off as for fp32, and the forward passes under `torch.autocast(dtype=bfloat16)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from bnbench.scenario import TrainConfig


@dataclass(frozen=True)
class MathMode:
    """The torch settings of a run. `threads` None: torch's default (one per core the process may use)."""

    precision: str
    allow_tf32_matmul: bool  # torch.backends.cuda.matmul.allow_tf32
    allow_tf32_cudnn: bool  # torch.backends.cudnn.allow_tf32
    float32_matmul_precision: str  # torch.set_float32_matmul_precision
    autocast_dtype: str | None  # the dtype of torch.autocast around forward passes; None: no autocast
    cudnn_benchmark: bool  # torch.backends.cudnn.benchmark
    cudnn_deterministic: bool  # torch.backends.cudnn.deterministic
    deterministic_algorithms: bool  # torch.use_deterministic_algorithms
    channels_last: bool  # model weights and image batches in NHWC memory format
    threads: int | None  # torch.set_num_threads
    compile: str  # torch.compile's mode, or "none"
    # the training step captured in a CUDA graph and replayed (bnbench.graphed), where it can be; None: unset, so
    # graphed on a CUDA GPU unless compile is set (the loop that ran is each run's runs.csv `loop`)
    graph: bool | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def math_mode(train: TrainConfig) -> MathMode:
    """The settings a run with `train` applies (an executor may have capped `train.threads` to its share)."""
    tf32 = train.precision == "tf32"
    return MathMode(
        precision=train.precision,
        allow_tf32_matmul=tf32,
        allow_tf32_cudnn=tf32,
        float32_matmul_precision="high" if tf32 else "highest",
        autocast_dtype="bfloat16" if train.precision == "bf16" else None,
        cudnn_benchmark=train.cudnn_benchmark,
        cudnn_deterministic=False,
        deterministic_algorithms=False,
        channels_last=train.channels_last,
        threads=train.threads,
        compile=train.compile,
        graph=train.graph,
    )


def apply(mode: MathMode) -> None:
    """Set `mode` in this process's torch (process-wide flags: call it before building the model)."""
    torch.backends.cuda.matmul.allow_tf32 = mode.allow_tf32_matmul
    torch.backends.cudnn.allow_tf32 = mode.allow_tf32_cudnn
    torch.set_float32_matmul_precision(mode.float32_matmul_precision)
    torch.backends.cudnn.benchmark = mode.cudnn_benchmark
    torch.backends.cudnn.deterministic = mode.cudnn_deterministic
    torch.use_deterministic_algorithms(mode.deterministic_algorithms)
    if mode.threads is not None:
        torch.set_num_threads(mode.threads)


def current() -> dict[str, Any]:
    """The flags as this process's torch reports them now (what `apply` set, read back)."""
    return {
        "allow_tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "allow_tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "threads": torch.get_num_threads(),
    }


def autocast(mode: MathMode, device: torch.device, cache: bool = True
             ) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A factory of the context the forward passes run in: bf16 autocast, or nothing. `cache` False for a pass
    captured in a CUDA graph: autocast's cache of cast weights would hold copies made once, at capture."""
    if mode.autocast_dtype is None:
        return contextlib.nullcontext
    dtype = getattr(torch, mode.autocast_dtype)
    return lambda: torch.autocast(device.type, dtype=dtype, cache_enabled=cache)


class ChannelsLastInputs(torch.nn.Module):
    """`inner` taking its image batches (4-d inputs) in channels-last memory format; other inputs as they are."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)
