"""Model registry: an architecture name -> its plan (bnbench.models.plan), and the network built from it.

Registering, naming and checking a bundled architecture load no torch: a plan is data, walked for its shapes
(bnbench.models.shapes) and made a torch network only when a run builds it (bnbench.models.build). A user's
architecture, 'module.path:factory', is torch code and is built and probed as such (bnbench.models.custom).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.registry import Registry
from bnbench.scenario import ModelConfig, is_import_path

if TYPE_CHECKING:
    from torch import nn

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


def plan_model(config: ModelConfig, io: ModelIO) -> list[Layer]:
    """The layers of the bundled architecture `config.arch` for `io`, with the norm's place marked; UserError for
    an unknown name or options that do not fit, ValueError for sizes that cannot make a layer."""
    if is_import_path(config.arch):
        raise ValueError(f"'{config.arch}' is a user's model: torch code, not a plan")
    return MODELS.get(config.arch)(config, io)


def build_model(config: ModelConfig, io: ModelIO) -> nn.Module:
    """The network for `config.arch` (a registered name or 'module.path:factory') with `config.norm` inserted
    where the architecture puts norms. UserError for an unknown name or a factory that does not fit."""
    from bnbench.models.norms import make_norm

    if is_import_path(config.arch):
        from bnbench.models.custom import build_custom

        return build_custom(make_norm(config), config, io)
    from bnbench.models.build import to_module

    return to_module(plan_model(config, io), make_norm(config))


def check_model(config: ModelConfig, io: ModelIO) -> None:
    """Walk the model's plan (or run a user's model on the meta device) with a batch of `io.image_size` inputs
    (bnbench.models.probe), so a wrong name, option or input size is a UserError before any training starts."""
    from bnbench.models.probe import PROBE_BATCH, probe

    try:
        probe(config, io, PROBE_BATCH)
    except UserError:
        raise
    except (RuntimeError, ValueError) as exc:
        raise UserError(
            f"model '{config.arch}' cannot take this task's {io.image_size}x{io.image_size} inputs ({_first(exc)})"
        ) from None
    except Exception as exc:  # a user's factory is code of its own: whatever it raises is one line, not a traceback
        if not is_import_path(config.arch):
            raise
        raise UserError(f"model '{config.arch}': building it and running one batch raised {type(exc).__name__}: "
                        f"{_first(exc)}; is '{config.arch}' a factory(norm, io, **options) returning an "
                        "nn.Module?") from None


def _first(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


from bnbench.models import fsrcnn as _fsrcnn  # noqa: E402,F401  (registers the built-in architectures)
from bnbench.models import lenet as _lenet  # noqa: E402,F401
from bnbench.models import srcnn as _srcnn  # noqa: E402,F401
