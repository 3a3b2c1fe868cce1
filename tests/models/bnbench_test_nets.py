"""A user's model, importable as 'bnbench_test_nets:make_net' once this folder is on sys.path."""

from __future__ import annotations

from torch import nn


def make_net(norm, io, width: int = 8) -> nn.Module:
    """Two padded 3x3 convs with the variant's norm between them: same size out as in."""
    return nn.Sequential(
        nn.Conv2d(io.in_channels, width, 3, padding=1),
        norm(width),
        nn.ReLU(),
        nn.Conv2d(width, io.out_channels, 3, padding=1),
    )


def not_a_model(norm, io) -> str:
    return "a string"
