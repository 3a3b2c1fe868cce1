"""One batch through a model before any run starts, for its shapes: whether it takes the task's inputs, and the
elements it keeps for the backward pass (the memory floor, bnbench.models.memory).

Two ways, the same answer:
  - a bundled architecture small enough (its widest layer's output, at every leaf, under `CPU_PROBE_BYTES` for
    a batch of 2) is built for real on the CPU and run on 2 samples, then scaled to the batch: its layers are all
    per-sample, and the CPU takes milliseconds where the meta device first imports torch's symbolic-shape and
    dynamo machinery (seconds);
  - anything else (a user's 'module:factory', or options that make a bundled one huge) runs on the meta device:
    shapes only, no memory, no compute, at the full batch.
`tests/models/test_probe.py` checks that both give the same counts for every bundled architecture and norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bnbench.models import ModelIO, build_model
from bnbench.scenario import ModelConfig, is_import_path

PROBE_BATCH = 2  # not 1: batch norm over a single value per channel refuses to train
CPU_PROBE_BYTES = 256 * 1024**2
FLOAT_BYTES = 4  # fp32; bf16 autocast halves some activations, which only makes the memory floor safer


@dataclass(frozen=True)
class Shapes:
    """Elements of one training batch: every leaf module's new output (what autograd keeps), the model's output,
    and the parameters."""

    activations: int
    output: int
    parameters: int


def cpu_bound_bytes(model: nn.Module, io: ModelIO, image_size: int) -> int:
    """An upper bound on the bytes of a `PROBE_BATCH` forward pass of `image_size`-square inputs: every leaf's
    output (and the input) at the widest channel count and the largest side (the input's, times the model's
    upsampling)."""
    widest = max((max(p.shape[:2]) for p in model.parameters() if p.dim() >= 2), default=io.in_channels)
    widest = max(widest, io.in_channels, io.out_channels)
    side = image_size * io.scale
    leaves = sum(1 for m in model.modules() if not list(m.children())) + 1
    return PROBE_BATCH * widest * side * side * leaves * FLOAT_BYTES


def probe(config: ModelConfig, io: ModelIO, batch_size: int) -> Shapes | None:
    """The shapes of one training batch of `batch_size` square `io.image_size` inputs through `config`'s model;
    None when the task fixes no input size (the model is still built, so its options are checked). Raises what
    the model raises on inputs it cannot take (RuntimeError, ValueError)."""
    with torch.device("meta"):
        model = build_model(config, io)
    if io.image_size is None:
        return None
    on_cpu = not is_import_path(config.arch) and cpu_bound_bytes(model, io, io.image_size) <= CPU_PROBE_BYTES
    outputs: list[int] = []

    def count(_module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        # A module that hands its input on (nn.Identity for norm = "none", an in-place ReLU) keeps nothing new.
        if isinstance(output, torch.Tensor) and not any(output is i for i in inputs):
            outputs.append(output.numel())

    if on_cpu:
        with torch.random.fork_rng(devices=[]):  # the initial weights draw from torch's global generator
            model = build_model(config, io)
    samples = PROBE_BATCH if on_cpu else batch_size
    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad() if on_cpu else torch.device("meta"):
            out = model(torch.zeros(samples, io.in_channels, io.image_size, io.image_size))
    finally:
        for hook in hooks:
            hook.remove()
    return Shapes(
        activations=sum(outputs) * batch_size // samples,
        output=out.numel() * batch_size // samples,
        parameters=sum(p.numel() for p in model.parameters()),
    )
