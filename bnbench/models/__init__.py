"""Model registry: an architecture name -> its plan (bnbench.models.plan), and the network built from it.

Registering, naming and checking a bundled architecture load no torch: a plan is data, walked for its shapes
(bnbench.models.shapes) and made a torch network only when a run builds it (bnbench.models.build). A user's
architecture, 'module.path:factory', is torch code and is built and probed as such (bnbench.models.custom).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnbench.errors import UserError
from bnbench.models import fsrcnn as _fsrcnn  # noqa: F401  (registers the built-in architectures)
from bnbench.models import lenet as _lenet  # noqa: F401
from bnbench.models import srcnn as _srcnn  # noqa: F401
from bnbench.models.registry import MODELS, ModelIO
from bnbench.scenario import ModelConfig, is_import_path

if TYPE_CHECKING:
    from torch import nn

    from bnbench.models.plan import Layer

__all__ = ["MODELS", "ModelIO", "build_model", "check_model", "plan_model"]


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

