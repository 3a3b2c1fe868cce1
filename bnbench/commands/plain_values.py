"""Command-line values that need nothing of pydantic, checked without it.

typer (0.29) checks each value on a command line through a pydantic TypeAdapter, built the first time its
parameter is used, even for the help option's unset value: every command began by importing pydantic (typer's
`_adapters` module, 0.11 s in `python -X importtime -m bnbench report DIR` on a 2-core virtual machine) and
building adapters, before the command itself started (`bnbench report` forks the child that reads the power
samples only then). These values need no adapter, and typer does nothing with them that pydantic is needed for:

- an unset value (None), which typer returns as it is (an empty tuple for a parameter that takes several);
- a value that already is what its parameter takes: a string for a `str` parameter, or a default such as
  `runs: int = 1` or `idle_s: float = 0` within the parameter's range, which it returns as it is (the int as a
  float, as pydantic does);
- strings for a `list[str]` parameter, which it returns as a list;
- a string for a `Path` parameter without a path type or '-': typer's own path checks (`exists`, `dir_okay`,
  ...) take it as a Path, which they do without an adapter.

A parameter with a parser of its own, a number given on the command line (a string), a number out of its
range, a list of anything but strings, a choice: each goes to typer's check, as before.

`plain_values` gives each such parameter a check that answers these itself and hands any other value to the
check typer would have built, built then. With a typer whose internals differ (older, or changed since),
nothing is replaced: the commands work the same, only their start is slower.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from typer.core import TyperCommand, TyperGroup

try:
    from typer._coercion import build_runtime_param
    from typer._param_types import coerce_cli_path

    AVAILABLE = True
except ImportError:  # a typer without runtime checks of its own: nothing to replace
    AVAILABLE = False


class PlainValue:
    """One parameter's check: an unset value, a value of the parameter's own type, strings for a list of them and
    a str for a Path parameter here; any other value by the check typer builds
    (`typer._coercion.build_runtime_param`), built at its first use."""

    AS_IS = (str, int, float)  # a value of such a type, for a parameter of it, is kept (bool: typer keeps it)

    def __init__(self, descriptor: Any) -> None:
        """Raises AttributeError where typer's descriptor lacks what this reads (a typer that changed)."""
        self.descriptor = descriptor
        self._typers: Any = None
        info = descriptor.parameter_info
        self.annotation, self.low, self.high = descriptor.annotation, info.min, info.max
        plain = info.parser is None and descriptor.file_annotation is None
        self.as_is = plain and self.annotation in self.AS_IS
        self.strings = plain and self.annotation == list[str]
        self.path = plain and self.annotation is Path and info.path_type is None and not info.allow_dash

    def kept(self, value: Any) -> bool:
        """Whether `value` is what the parameter takes already: its type (an int for a float), in its range."""
        if type(value) is not self.annotation and not (self.annotation is float and type(value) is int):
            return False
        if self.annotation is str:
            return True
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if self.as_is and self.kept(value):
            return self.annotation(value)
        if self.strings and isinstance(value, list | tuple) and all(type(item) is str for item in value):
            return list(value)
        if self.path and isinstance(value, str):
            return coerce_cli_path(Path(value), self.descriptor.parameter_info, path_type=Path, param=param, ctx=ctx)
        if self._typers is None:
            self._typers = build_runtime_param(self.descriptor)
        return self._typers.coerce(value, param=param, ctx=ctx)


def plain_values(params: Iterable[Any]) -> None:
    """Give each of a command's `params` whose check typer has not built yet a `PlainValue` (see the module's
    text). Does nothing with a typer whose parameters have no such check."""
    if not AVAILABLE:
        return
    for param in params:
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            try:
                param._runtime_param = PlainValue(param.type_descriptor)
            except AttributeError:  # a descriptor unlike typer 0.29's: typer's own check
                continue


class PlainValuesCommand(TyperCommand):
    """A typer command whose plain values are checked without pydantic (`plain_values`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain_values(self.get_params(ctx))
        return super().parse_args(ctx, args)


class PlainValuesGroup(TyperGroup):
    """A typer group (the `bnbench` command itself) whose plain values are checked without pydantic."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain_values(self.get_params(ctx))
        return super().parse_args(ctx, args)
