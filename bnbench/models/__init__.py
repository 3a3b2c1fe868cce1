"""Model registry: an architecture name -> a factory taking the norm factory and the model config."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from bnbench.models.norms import NormFactory, make_norm
from bnbench.registry import Registry
from bnbench.scenario import ModelConfig

ModelFactory = Callable[[NormFactory, ModelConfig, "ModelIO"], nn.Module]

MODELS: Registry[ModelFactory] = Registry("model")


class ModelIO:
    """What a task feeds a model: channels in and out (and classes, for classifiers)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        self.in_channels = in_channels
        self.out_channels = out_channels


def build_model(config: ModelConfig, io: ModelIO) -> nn.Module:
    """The network for `config.arch` with `config.norm` inserted where the architecture puts norms."""
    return MODELS.get(config.arch)(make_norm(config), config, io)


from bnbench.models import srcnn as _srcnn  # noqa: E402,F401  (registers the built-in architectures)
