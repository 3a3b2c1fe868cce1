"""SRCNN (Dong et al. 2014, arXiv 1501.00092): three unpadded convs, a norm after every conv but the last."""

from __future__ import annotations

from bnbench.errors import UserError
from bnbench.models.options import call_with_options
from bnbench.models.plan import Conv, Layer, hidden_tail
from bnbench.models.registry import MODELS, ModelIO
from bnbench.scenario import ModelConfig


def srcnn(config: ModelConfig, io: ModelIO, kernels: tuple[int, int, int], widths: tuple[int, int]) -> list[Layer]:
    """conv k1 -> w1, norm, ReLU, conv k2 -> w2, norm, ReLU, conv k3 -> out. No padding: 33x33 in, 21x21 out.

    The norm/activation order follows `config.placement`; dropout, if any, follows each hidden activation.
    """
    if io.scale != 1:
        raise UserError(f"SRCNN refines the bicubic-upsampled image: set [task] input = \"bicubic\" ({config.arch})")
    k1, k2, k3 = kernels
    w1, w2 = widths
    return [
        Conv(io.in_channels, w1, k1),
        *hidden_tail(config, w1),
        Conv(w1, w2, k2),
        *hidden_tail(config, w2),
        Conv(w2, io.out_channels, k3),
    ]


def _widths(n1: int = 64, n2: int = 32) -> tuple[int, int]:
    return n1, n2


@MODELS.register("srcnn", "SRCNN 9-1-5: conv 9x9 64, conv 1x1 32, conv 5x5 out (the paper's network)")
def _srcnn_915(config: ModelConfig, io: ModelIO) -> list[Layer]:
    return srcnn(config, io, (9, 1, 5), call_with_options("srcnn", _widths, (), config.options))


@MODELS.register("srcnn-955", "SRCNN 9-5-5: the 1x1 middle conv widened to 5x5 (Dong et al.'s best, 32.75 dB)")
def _srcnn_955(config: ModelConfig, io: ModelIO) -> list[Layer]:
    return srcnn(config, io, (9, 5, 5), call_with_options("srcnn-955", _widths, (), config.options))
