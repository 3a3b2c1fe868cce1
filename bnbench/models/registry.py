"""The architecture registry and what a task feeds a model: the bottom of bnbench.models, which every bundled
architecture imports to register itself (the package imports them, never the other way round)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.registry import Registry
from bnbench.scenario import ModelConfig, is_import_path

if TYPE_CHECKING:
    from bnbench.models.plan import Layer

Plan = Callable[[ModelConfig, "ModelIO"], "list[Layer]"]


class ModelRegistry(Registry[Plan]):
    """The registered architectures, and any user's factory named by import path ('module.path:factory')."""

    def get(self, name: str) -> Callable[..., Any]:
        """A registered architecture's plan, or the user's factory a 'module.path:factory' name imports."""
        if is_import_path(name):
            from bnbench.models.custom import load_factory

            return load_factory(name)  # a UserError now if it cannot be imported
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
