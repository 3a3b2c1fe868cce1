"""The `bnbench` command: thin commands over the library. Heavy imports happen inside the commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bnbench import __version__
from bnbench.errors import UserError

app = typer.Typer(
    name="bnbench",
    help="Energy-aware benchmarks of training tricks: quality, time and joules per variant, across seeds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """User errors become one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"bnbench: error: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bnbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run `bnbench run scenarios/quick.toml` to start."""


ScenarioArg = Annotated[Path, typer.Argument(help="Scenario file (TOML).", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a field: section.key=value or variant.NAME.key=value."),
]


@app.command()
@friendly
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario and print its run matrix without training."""
    from bnbench.commands.run import print_matrix
    from bnbench.data import check_runs
    from bnbench.scenario import expand, load

    loaded = load(scenario, set_ or [])
    print_matrix(loaded)
    check_runs(expand(loaded))


@app.command()
@friendly
def run(
    scenario: ScenarioArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Results folder.")] = None,
    device: Annotated[
        list[str] | None, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N (repeatable).")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Train every variant x seed of SCENARIO, measure it, and write the results folder."""
    from bnbench.commands.run import run_scenario

    code = run_scenario(scenario, out=out, devices=device, overrides=set_ or [], argv=sys.argv)
    raise typer.Exit(code)


def main() -> None:
    app()
