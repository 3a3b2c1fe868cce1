"""A bundled architecture's plan (bnbench.models.plan) made into the torch network that trains."""

from __future__ import annotations

from torch import nn

from bnbench.models.norms import NormFactory
from bnbench.models.plan import Conv, Deconv, Dropout, Flatten, Layer, Linear, MaxPool, Norm, PReLU, ReLU


def module(layer: Layer, norm: NormFactory) -> nn.Module:
    """The torch module for one layer of a plan; `norm` makes the variant's norm for a channel count."""
    match layer:
        case Conv(channels_in=c_in, channels_out=c_out, kernel=k, padding=p):
            return nn.Conv2d(c_in, c_out, k, padding=p)
        case Deconv():
            deconv = nn.ConvTranspose2d(layer.channels_in, layer.channels_out, layer.kernel, stride=layer.stride,
                                        padding=layer.padding, output_padding=layer.output_padding)
            nn.init.normal_(deconv.weight, std=layer.weight_std)
            assert deconv.bias is not None  # ConvTranspose2d has one unless bias=False
            nn.init.zeros_(deconv.bias)
            return deconv
        case Norm(channels=c):
            return norm(c)
        case ReLU():
            return nn.ReLU(inplace=True)
        case PReLU(channels=c):
            return nn.PReLU(c)
        case Dropout(rate=rate):
            return nn.Dropout(rate)
        case MaxPool(size=k):
            return nn.MaxPool2d(k)
        case Flatten():
            return nn.Flatten()
        case Linear(features_in=f_in, features_out=f_out):
            return nn.Linear(f_in, f_out)
    raise TypeError(f"not a layer of a plan: {layer!r}")


def to_module(layers: list[Layer], norm: NormFactory) -> nn.Sequential:
    """The plan's layers in order (so initial weights draw from torch's generator in the plan's order)."""
    return nn.Sequential(*(module(layer, norm) for layer in layers))
