"""A bundled architecture as a plan: the list of its layers, described without torch.

Two readers take a plan: `bnbench.models.build` turns it into an `nn.Sequential` to train, and
`bnbench.models.shapes` walks it to count what one training batch keeps and to find inputs the network cannot
take. A plan is data, so checking a scenario's bundled models needs no torch (seconds of imports) and the two
readers cannot disagree on what the network is.

The hidden layer's tail follows `placement`: the norm before the activation (conv, norm, ReLU: the paper's and
Ioffe & Szegedy's choice) or after it (conv, ReLU, norm). Dropout, when its rate is above 0, always comes last,
so it drops what the next layer sees whatever the norm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from bnbench.scenario import ModelConfig

ZERO_ALLOWED = ("padding", "output_padding")  # the only sizes of a layer that may be 0


class _Sized:
    """A layer whose every `int` field is a size: a positive whole number (0 allowed for ZERO_ALLOWED), else a
    ValueError naming the layer, the field and the value, as soon as the layer is made."""

    def __post_init__(self) -> None:
        for field in fields(self):  # type: ignore[arg-type]
            if field.type != "int":
                continue
            value, least = getattr(self, field.name), 0 if field.name in ZERO_ALLOWED else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                kind = "positive" if least == 1 else "non-negative"
                raise ValueError(f"{type(self).__name__} {field.name} must be a {kind} whole number, not {value!r}")


@dataclass(frozen=True)
class Conv(_Sized):
    """A 2-d convolution, stride 1, zero padding of `padding` pixels on every side, with a bias."""

    channels_in: int
    channels_out: int
    kernel: int
    padding: int = 0


@dataclass(frozen=True)
class Deconv(_Sized):
    """A transposed convolution upsampling by `stride`, its weights drawn from N(0, `weight_std`), bias 0."""

    channels_in: int
    channels_out: int
    kernel: int
    stride: int
    padding: int
    output_padding: int
    weight_std: float

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.output_padding >= self.stride:
            raise ValueError(f"Deconv output_padding {self.output_padding} must be below its stride {self.stride}")


@dataclass(frozen=True)
class Norm(_Sized):
    """The variant's norm (`[model] norm`) over `channels` feature maps."""

    channels: int


@dataclass(frozen=True)
class ReLU:
    """ReLU in place: it keeps no output of its own."""


@dataclass(frozen=True)
class PReLU(_Sized):
    """PReLU with one learned slope per channel."""

    channels: int


@dataclass(frozen=True)
class Dropout:
    rate: float


@dataclass(frozen=True)
class MaxPool(_Sized):
    """Max pooling over `size` x `size` windows, stride `size`."""

    size: int


@dataclass(frozen=True)
class Flatten:
    """(N, C, H, W) -> (N, C * H * W)."""


@dataclass(frozen=True)
class Linear(_Sized):
    features_in: int
    features_out: int


Layer = Conv | Deconv | Norm | ReLU | PReLU | Dropout | MaxPool | Flatten | Linear
Activation = Callable[[int], Layer]


def relu(channels: int) -> Layer:
    return ReLU()


def hidden_tail(config: ModelConfig, channels: int, activation: Activation = relu) -> list[Layer]:
    """[norm, activation] or [activation, norm] per `config.placement`, then dropout if `config.dropout` > 0."""
    layers = [Norm(channels), activation(channels)]
    if config.placement == "after_activation":
        layers.reverse()
    if config.dropout > 0:
        layers.append(Dropout(config.dropout))
    return layers
