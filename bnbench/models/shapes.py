"""What one training batch through a bundled architecture keeps, counted from its plan without torch.

Walking the plan layer by layer with the (channels, height, width) of one sample gives every layer's output
size, which is what autograd keeps for the backward pass, and the parameters. A layer that hands its input on
(an in-place ReLU, `norm = "none"`) keeps nothing new. A layer whose output would be empty (a kernel wider than
its input) raises ValueError, as torch does when the model first sees such an input.
`tests/models/test_shapes.py` holds these counts to the meta device's for every bundled architecture and norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from bnbench.models.norms import IDENTITY, norm_parameters
from bnbench.models.plan import Conv, Deconv, Dropout, Flatten, Layer, Linear, MaxPool, Norm, PReLU, ReLU
from bnbench.scenario import ModelConfig


@dataclass(frozen=True)
class Shapes:
    """Elements of one training batch: every leaf module's new output (what autograd keeps), the model's output,
    and the parameters."""

    activations: int
    output: int
    parameters: int


def _spatial(name: str, side: tuple[int, ...], out: tuple[int, int]) -> tuple[int, int]:
    if min(out) < 1:
        raise ValueError(f"{name} would turn {side[0]}x{side[1]} maps into {out[0]}x{out[1]}")
    return out


def walk(layers: list[Layer], config: ModelConfig, channels: int, side: int, batch_size: int) -> Shapes:
    """The shapes of a batch of `batch_size` inputs of `channels` x `side` x `side` through `layers`, with
    `config.norm` at each Norm. ValueError where a layer cannot take what reaches it."""
    shape: tuple[int, ...] = (channels, side, side)
    kept = parameters = 0
    for index, layer in enumerate(layers):
        name = f"layer {index} ({type(layer).__name__})"
        new = True  # the layer's output is a tensor of its own
        match layer:
            case Conv() | Deconv() | Norm() | PReLU() | MaxPool() if len(shape) != 3:
                raise ValueError(f"{name} needs feature maps, not {len(shape) - 1}-d features")
            case Conv(channels_in=c_in, channels_out=c_out, kernel=k, padding=p):
                _need(name, shape[0], c_in)
                h, w = (s + 2 * p - k + 1 for s in shape[1:])
                shape = (c_out, *_spatial(name, shape[1:], (h, w)))
                parameters += c_in * c_out * k * k + c_out
            case Deconv(channels_in=c_in, channels_out=c_out, kernel=k, stride=s, padding=p, output_padding=o):
                _need(name, shape[0], c_in)
                h, w = ((n - 1) * s - 2 * p + k + o for n in shape[1:])
                shape = (c_out, *_spatial(name, shape[1:], (h, w)))
                parameters += c_in * c_out * k * k + c_out
            case Norm(channels=c):
                _need(name, shape[0], c)
                parameters += norm_parameters(config, c)
                new = config.norm != IDENTITY
            case ReLU():
                new = False
            case PReLU(channels=c):
                _need(name, shape[0], c)
                parameters += c
            case Dropout():
                pass
            case MaxPool(size=k):
                shape = (shape[0], *_spatial(name, shape[1:], (shape[1] // k, shape[2] // k)))
            case Flatten():
                shape = (prod(shape),)
            case Linear(features_in=f_in, features_out=f_out):
                if len(shape) != 1:
                    raise ValueError(f"{name} needs flat features; add a Flatten before it")
                _need(name, shape[0], f_in)
                shape = (f_out,)
                parameters += f_in * f_out + f_out
        if new:
            kept += prod(shape)
    return Shapes(activations=kept * batch_size, output=prod(shape) * batch_size, parameters=parameters)


def _need(name: str, got: int, expected: int) -> None:
    if got != expected:
        raise ValueError(f"{name} expects {expected} channels or features, its input has {got}")

