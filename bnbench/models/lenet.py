"""A LeNet-style classifier (LeCun et al. 1998) sized for small images such as scikit-learn's 8x8 digits.

conv 3x3 -> w1, pool 2, conv 3x3 -> w2, pool 2, a hidden fully connected layer, and the class scores. Convs are
padded, so 8x8 digits become 4x4 then 2x2 maps. The norm follows both convs; the hidden fully connected layer
gets ReLU and dropout but no norm (every norm here is defined on conv feature maps).
"""

from __future__ import annotations

from bnbench.errors import UserError
from bnbench.models.options import call_with_options
from bnbench.models.plan import Conv, Dropout, Flatten, Layer, Linear, MaxPool, ReLU, hidden_tail
from bnbench.models.registry import MODELS, ModelIO
from bnbench.scenario import ModelConfig


def lenet(config: ModelConfig, io: ModelIO, widths: tuple[int, int] = (32, 64), hidden: int = 128) -> list[Layer]:
    """Logits of `io.out_channels` classes for `io.image_size`-square inputs (a multiple of 4 pixels)."""
    size = io.image_size
    if size is None or size % 4:
        raise UserError(f"lenet needs square inputs whose side is a multiple of 4 pixels (the task gives {size})")
    w1, w2 = widths
    layers: list[Layer] = [
        Conv(io.in_channels, w1, 3, padding=1),
        *hidden_tail(config, w1),
        MaxPool(2),
        Conv(w1, w2, 3, padding=1),
        *hidden_tail(config, w2),
        MaxPool(2),
        Flatten(),
        Linear(w2 * (size // 4) ** 2, hidden),
        ReLU(),
    ]
    if config.dropout > 0:
        layers.append(Dropout(config.dropout))
    return [*layers, Linear(hidden, io.out_channels)]


@MODELS.register("lenet", "LeNet-style CNN: two 3x3 convs (32, 64) with pooling, fully connected 128, classes")
def _lenet(config: ModelConfig, io: ModelIO) -> list[Layer]:
    return call_with_options("lenet", lenet, (config, io), config.options)
