"""The hidden layer's tail shared by the built-in architectures: norm, activation and dropout, in order.

`placement` puts the norm before the activation (conv, norm, ReLU: the paper's and Ioffe & Szegedy's choice) or
after it (conv, ReLU, norm). Dropout, when its rate is above 0, always comes last, so it drops what the next
layer sees whatever the norm.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from bnbench.models.norms import NormFactory
from bnbench.scenario import ModelConfig

Activation = Callable[[int], nn.Module]


def relu(channels: int) -> nn.Module:
    return nn.ReLU(inplace=True)


def hidden_tail(
    norm: NormFactory, config: ModelConfig, channels: int, activation: Activation = relu
) -> list[nn.Module]:
    """[norm, activation] or [activation, norm] per `config.placement`, then dropout if `config.dropout` > 0."""
    layers = [norm(channels), activation(channels)]
    if config.placement == "after_activation":
        layers.reverse()
    if config.dropout > 0:
        layers.append(nn.Dropout(config.dropout))
    return layers


def with_dropout(norm: NormFactory, rate: float) -> NormFactory:
    """`norm` followed by dropout at `rate` (just `norm` when the rate is 0): what a custom model is given."""
    if rate <= 0:
        return norm
    return lambda channels: nn.Sequential(norm(channels), nn.Dropout(rate))
