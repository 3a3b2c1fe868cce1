"""FSRCNN (Dong, Loy & Tang 2016, arXiv 1608.00367): super-resolution on the low-resolution image itself.

conv 5x5 -> d, shrink 1x1 -> s, m x conv 3x3 -> s, expand 1x1 -> d (each followed by PReLU, and by the norm
like every conv but the last), then a 9x9 deconvolution with stride `scale` to the high-resolution image.
Convs are padded, so an LxL input gives an (L*scale)x(L*scale) output. The paper's x3 network is d=56, s=12, m=4.
"""

from __future__ import annotations

from torch import nn

from bnbench.errors import UserError
from bnbench.models import MODELS, ModelIO
from bnbench.models.layers import hidden_tail
from bnbench.models.norms import NormFactory
from bnbench.models.options import call_with_options
from bnbench.scenario import ModelConfig


def fsrcnn(norm: NormFactory, config: ModelConfig, io: ModelIO, d: int = 56, s: int = 12, m: int = 4) -> nn.Sequential:
    """FSRCNN(d, s, m) upsampling by `io.scale`; the norm follows every conv but the final deconvolution."""
    if io.scale < 2:
        raise UserError("FSRCNN upsamples the low-resolution image itself: set [task] input = \"low_res\"")
    prelu = nn.PReLU  # one slope per channel, as in the paper
    layers: list[nn.Module] = [nn.Conv2d(io.in_channels, d, 5, padding=2), *hidden_tail(norm, config, d, prelu)]
    layers += [nn.Conv2d(d, s, 1), *hidden_tail(norm, config, s, prelu)]
    for _ in range(m):
        layers += [nn.Conv2d(s, s, 3, padding=1), *hidden_tail(norm, config, s, prelu)]
    layers += [nn.Conv2d(s, d, 1), *hidden_tail(norm, config, d, prelu)]
    # (L - 1) * scale - 2 * 4 + 9 + (scale - 1) = L * scale: the deconvolution gives exactly scale x the input.
    deconv = nn.ConvTranspose2d(d, io.out_channels, 9, stride=io.scale, padding=4, output_padding=io.scale - 1)
    nn.init.normal_(deconv.weight, std=1e-3)  # the paper's initialization of the deconvolution
    nn.init.zeros_(deconv.bias)
    return nn.Sequential(*layers, deconv)


@MODELS.register("fsrcnn", "FSRCNN(56, 12, 4): works on the low-resolution image, deconvolution to upsample")
def _fsrcnn(norm: NormFactory, config: ModelConfig, io: ModelIO) -> nn.Module:
    return call_with_options("fsrcnn", fsrcnn, (norm, config, io), config.options)
