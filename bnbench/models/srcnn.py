"""SRCNN (Dong et al. 2014, arXiv 1501.00092): three unpadded convs, a norm after every conv but the last."""

from __future__ import annotations

from torch import nn

from bnbench.models import MODELS, ModelIO
from bnbench.models.norms import NormFactory
from bnbench.scenario import ModelConfig


def srcnn(norm: NormFactory, io: ModelIO, kernels: tuple[int, int, int], widths: tuple[int, int]) -> nn.Sequential:
    """conv k1 -> w1, norm, ReLU, conv k2 -> w2, norm, ReLU, conv k3 -> out. No padding: 33x33 in, 21x21 out."""
    k1, k2, k3 = kernels
    w1, w2 = widths
    return nn.Sequential(
        nn.Conv2d(io.in_channels, w1, k1),
        norm(w1),
        nn.ReLU(inplace=True),
        nn.Conv2d(w1, w2, k2),
        norm(w2),
        nn.ReLU(inplace=True),
        nn.Conv2d(w2, io.out_channels, k3),
    )


@MODELS.register("srcnn", "SRCNN 9-1-5: conv 9x9 64, conv 1x1 32, conv 5x5 out (the paper's network)")
def _srcnn_915(norm: NormFactory, config: ModelConfig, io: ModelIO) -> nn.Module:
    return srcnn(norm, io, (9, 1, 5), (64, 32))
