"""FSRCNN (Dong, Loy & Tang 2016, arXiv 1608.00367): super-resolution on the low-resolution image itself.

conv 5x5 -> d, shrink 1x1 -> s, m x conv 3x3 -> s, expand 1x1 -> d (each followed by PReLU, and by the norm
like every conv but the last), then a 9x9 deconvolution with stride `scale` to the high-resolution image.
Convs are padded, so an LxL input gives an (L*scale)x(L*scale) output. The paper's x3 network is d=56, s=12, m=4.
"""

from __future__ import annotations

from bnbench.errors import UserError
from bnbench.models.options import call_with_options
from bnbench.models.plan import Conv, Deconv, Layer, PReLU, hidden_tail
from bnbench.models.registry import MODELS, ModelIO
from bnbench.scenario import ModelConfig

DECONV_WEIGHT_STD = 1e-3  # the paper's initialization of the deconvolution


def fsrcnn(config: ModelConfig, io: ModelIO, d: int = 56, s: int = 12, m: int = 4) -> list[Layer]:
    """FSRCNN(d, s, m) upsampling by `io.scale`; the norm follows every conv but the final deconvolution."""
    if io.scale < 2:
        raise UserError("FSRCNN upsamples the low-resolution image itself: set [task] input = \"low_res\"")
    layers: list[Layer] = [Conv(io.in_channels, d, 5, padding=2), *hidden_tail(config, d, PReLU)]
    layers += [Conv(d, s, 1), *hidden_tail(config, s, PReLU)]
    for _ in range(m):
        layers += [Conv(s, s, 3, padding=1), *hidden_tail(config, s, PReLU)]
    layers += [Conv(s, d, 1), *hidden_tail(config, d, PReLU)]
    # (L - 1) * scale - 2 * 4 + 9 + (scale - 1) = L * scale: the deconvolution gives exactly scale x the input.
    return [*layers, Deconv(d, io.out_channels, 9, stride=io.scale, padding=4, output_padding=io.scale - 1,
                            weight_std=DECONV_WEIGHT_STD)]


@MODELS.register("fsrcnn", "FSRCNN(56, 12, 4): works on the low-resolution image, deconvolution to upsample")
def _fsrcnn(config: ModelConfig, io: ModelIO) -> list[Layer]:
    return call_with_options("fsrcnn", fsrcnn, (config, io), config.options)
