"""A user's architecture by import path: `arch = "mypkg.nets:make_net"`.

The factory is called as `make_net(norm, io, **options)`: `norm(channels)` gives the variant's norm module (followed
by dropout when the variant sets a rate), `io` says the channels in and out (`io.in_channels`, `io.out_channels`,
`io.scale`, `io.image_size`), and `options` is the scenario's `[model] options` table. It returns an `nn.Module`.
Modules are imported from `PYTHONPATH`, the installed packages, and then the scenario file's own folder: a
scenario names code to run, like a Makefile, so only the folder it comes from is trusted, never whatever
folder bnbench happens to be started in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

from bnbench import trusted
from bnbench.errors import UserError
from bnbench.models.norms import NormFactory
from bnbench.models.options import call_with_options
from bnbench.scenario import ModelConfig


def load_factory(arch: str) -> Callable[..., Any]:
    """The callable named by 'module.path:attribute'; UserError when it cannot be imported or is not callable."""
    module_name, _, attribute = arch.partition(":")
    if not module_name or not attribute:
        raise UserError(f"arch '{arch}': write a custom model as 'module.path:factory', e.g. 'mypkg.nets:make_net'")
    trusted.install()  # in a spawned worker: the scenario's folder, inherited through the environment
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"arch '{arch}': cannot import '{module_name}' ({exc}); put it beside the scenario file "
                        "or on PYTHONPATH") from None
    factory = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise UserError(f"arch '{arch}': module '{module_name}' has no '{attribute}'")
        factory = getattr(factory, part)
    if not callable(factory):
        raise UserError(f"arch '{arch}': '{attribute}' is not callable")
    return factory


def with_dropout(norm: NormFactory, rate: float) -> NormFactory:
    """`norm` followed by dropout at `rate` (just `norm` when the rate is 0): what a custom model is given."""
    if rate <= 0:
        return norm
    return lambda channels: nn.Sequential(norm(channels), nn.Dropout(rate))


def build_custom(norm: NormFactory, config: ModelConfig, io: Any) -> nn.Module:
    """The user's network: `factory(norm_with_dropout, io, **config.options)`, checked to be an nn.Module."""
    if config.placement != "before_activation":
        raise UserError(
            f"arch '{config.arch}': placement applies to the built-in architectures; a custom model places norm(c) "
            f"itself (before or after its activation)"
        )
    factory = load_factory(config.arch)
    model = call_with_options(f"arch '{config.arch}'", factory, (with_dropout(norm, config.dropout), io),
                              config.options)
    if not isinstance(model, nn.Module):
        raise UserError(f"arch '{config.arch}': the factory returned {type(model).__name__}, not a torch nn.Module")
    return model
