"""Command help in one style: an argument is named by its word in capitals, as an option's value is.

Typer writes a required argument as `{SCENARIO}` in the usage line and as `SCENARIO <path>` (or
`COMMAND <list[str]>`) in the Arguments section, beside options written `--out DIR`. These commands write
`SCENARIO`, `COMMAND...` and `[NAME]` (optional) in both places.
"""

from __future__ import annotations

from typing import Any

from bnbench.commands.plain_values import PlainValuesCommand


def argument_name(param: Any) -> str:
    """'SCENARIO', 'COMMAND...' (it takes several), '[NAME]' (it may be left out)."""
    name = param.metavar or (param.name or "").upper()
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


class NamedArguments(PlainValuesCommand):
    """A typer command whose help names each argument by its metavar alone (and whose plain values are checked
    without pydantic: plain_values.py)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(argument_name(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
