"""An architecture's options: `[model] options = {...}` passed as keyword arguments, checked against its signature."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from bnbench.errors import UserError


def call_with_options(what: str, factory: Callable[..., Any], args: tuple[Any, ...], options: Mapping[str, Any]) -> Any:
    """`factory(*args, **options)`, or a UserError naming the options `factory` accepts when they do not fit."""
    try:
        inspect.signature(factory).bind(*args, **options)
    except TypeError as exc:
        parameters = list(inspect.signature(factory).parameters.values())[len(args) :]
        accepted = ", ".join(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD) or "none"
        raise UserError(f"{what}: options {dict(options)} do not fit ({exc}); it accepts: {accepted}") from None
    return factory(*args, **options)
