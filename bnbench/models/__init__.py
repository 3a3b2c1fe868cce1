"""Model registry: an architecture name -> a factory taking the norm factory and the model config."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from bnbench.errors import UserError
from bnbench.models.custom import build_custom, load_factory
from bnbench.models.norms import NormFactory, make_norm
from bnbench.registry import Registry
from bnbench.scenario import ModelConfig, is_import_path

ModelFactory = Callable[[NormFactory, ModelConfig, "ModelIO"], nn.Module]


class ModelRegistry(Registry[ModelFactory]):
    """The registered architectures, and any user's factory named by import path ('module.path:factory')."""

    def get(self, name: str) -> ModelFactory:
        if is_import_path(name):
            load_factory(name)  # a UserError now if it cannot be imported
            return build_custom
        try:
            return super().get(name)
        except UserError as exc:
            raise UserError(f"{exc}, or your own as 'module.path:factory'") from None


MODELS: ModelRegistry = ModelRegistry("model")


class ModelIO:
    """What a task feeds a model.

    `in_channels` and `out_channels` (the class count, for classifiers); `scale`, the factor by which the model
    itself must upsample (1 when the input is already at the output's size); `image_size`, the side in pixels of
    the square training inputs, or None when the task does not fix it.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 1, image_size: int | None = None) -> None:
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = scale
        self.image_size = image_size


def build_model(config: ModelConfig, io: ModelIO) -> nn.Module:
    """The network for `config.arch` (a registered name or 'module.path:factory') with `config.norm` inserted
    where the architecture puts norms. UserError for an unknown name or a factory that does not fit."""
    return MODELS.get(config.arch)(make_norm(config), config, io)


def check_model(config: ModelConfig, io: ModelIO) -> None:
    """Build the model and run one small batch of `io.image_size` through it (bnbench.models.probe), so a wrong
    name, option or input size is a UserError before any training starts."""
    from bnbench.models.probe import PROBE_BATCH, probe

    try:
        probe(config, io, PROBE_BATCH)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"model '{config.arch}' cannot take this task's {io.image_size}x{io.image_size} inputs ({first})"
        ) from None

from bnbench.models import fsrcnn as _fsrcnn  # noqa: E402,F401  (registers the built-in architectures)
from bnbench.models import lenet as _lenet  # noqa: E402,F401
from bnbench.models import srcnn as _srcnn  # noqa: E402,F401
from bnbench.models import syncbn as _syncbn  # noqa: E402,F401  (registers norm = "syncbatch")
