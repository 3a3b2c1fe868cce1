"""One batch through a model before any run starts, for its shapes: whether it takes the task's inputs, and the
elements it keeps for the backward pass (the memory floor, bnbench.models.memory).

Two ways, the same answer:
  - a bundled architecture's plan is walked (bnbench.models.shapes): arithmetic on its layers' sizes, no torch;
  - a user's 'module:factory' model is torch code we cannot read, so it is built and run on the meta device:
    shapes only, no memory, no compute, at the full batch.
`tests/models/test_shapes.py` checks that both give the same counts for every bundled architecture and norm.
"""

from __future__ import annotations

from bnbench.errors import UserError
from bnbench.models import ModelIO, build_model, plan_model
from bnbench.models.shapes import Shapes, walk
from bnbench.scenario import ModelConfig, is_import_path

PROBE_BATCH = 2  # not 1: batch norm over a single value per channel refuses to train
FLOAT_BYTES = 4  # fp32; bf16 autocast halves some activations, which only makes the memory floor safer


def probe(config: ModelConfig, io: ModelIO, batch_size: int) -> Shapes | None:
    """The shapes of one training batch of `batch_size` square `io.image_size` inputs through `config`'s model;
    None when the task fixes no input size (the model's options are still checked). UserError for options that
    make no bundled network; what the model raises on inputs it cannot take (RuntimeError, ValueError)."""
    if is_import_path(config.arch):
        return probe_on_meta(config, io, batch_size)
    try:
        layers = plan_model(config, io)
    except (TypeError, ValueError) as exc:  # options of the wrong kind or size: no layer can be made of them
        raise UserError(
            f"model '{config.arch}': options {dict(config.options)} do not make a network ({exc})"
        ) from None
    if io.image_size is None:
        return None
    return walk(layers, config, io.in_channels, io.image_size, batch_size)


def probe_on_meta(config: ModelConfig, io: ModelIO, batch_size: int) -> Shapes | None:
    """`probe` by running the built model on the meta device: every leaf module's output that is a tensor of its
    own (a module that hands its input on, nn.Identity or an in-place ReLU, keeps nothing new)."""
    import torch
    from torch import nn

    with torch.device("meta"):
        model = build_model(config, io)
    if io.image_size is None:
        return None
    outputs: list[int] = []

    def count(_module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        if isinstance(output, torch.Tensor) and not any(output is i for i in inputs):
            outputs.append(output.numel())

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        with torch.device("meta"):
            out = model(torch.zeros(batch_size, io.in_channels, io.image_size, io.image_size))
    finally:
        for hook in hooks:
            hook.remove()
    return Shapes(sum(outputs), out.numel(), sum(p.numel() for p in model.parameters()))
