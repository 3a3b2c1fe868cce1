"""The `bnbench` command: thin commands over the library. Heavy imports happen inside the commands."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bnbench.errors import UserError
from bnbench.version import __version__

app = typer.Typer(
    name="bnbench",
    help="Energy-aware benchmarks of training tricks: quality, time and joules per variant, across seeds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: a flag shows no '<bool>' as if it took a value, brackets in help texts print as written, and
    # piped help has no box drawing.
    rich_markup_mode=None,
)

EXIT_BAD_INPUT = 2

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """User errors become one line on stderr and exit code 2, never a traceback. A reader that stops reading
    (`bnbench report DIR | head -1`) ends the command quietly: what it wanted, it has."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"bnbench: error: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except BrokenPipeError:
            # Whatever is still buffered for the closed pipe would fail again at exit: send it nowhere.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None

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


ScenarioArg = Annotated[Path, typer.Argument(help="Scenario file (TOML).", show_default=False, metavar="SCENARIO")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="KEY=VALUE",
                 help="Override a field: section.key=value or variant.NAME.key=value (repeatable)."),
]


@app.command()
@friendly
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario and print its run matrix without training."""
    from bnbench.commands.checks import check_before_running
    from bnbench.commands.run import print_matrix
    from bnbench.errors import UserError
    from bnbench.execute.devices import resolve_devices
    from bnbench.scenario import expand, load, trust_scenario_folder

    loaded = load(scenario, set_ or [])
    trust_scenario_folder(loaded)  # a 'module:factory' model imports from the scenario's folder
    try:
        devices = resolve_devices(loaded.scenario.device)
    except UserError:  # the GPUs it names are not on this machine: check against this host's memory
        devices = ["cpu"]
    check_before_running(loaded, expand(loaded), devices)  # no torch unless a model is the user's own code
    print_matrix(loaded)


@app.command()
@friendly
def run(
    scenario: ScenarioArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help="Results folder.")] = None,
    device: Annotated[
        list[str] | None,
        typer.Option("--device", "-d", metavar="DEVICE", help="auto, cpu, cuda or cuda:N (repeatable)."),
    ] = None,
    set_: SetOpt = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", metavar="DIR",
                     help="Continue this results folder: skip finished runs, resume the others."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even though the scenario changed since the folder was started.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, metavar="N",
                     help="Runs at once (default: one per GPU; 1 on the CPU, which N workers split into N shares of "
                     "cores)."),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", metavar="local|ray", help="local (this host's devices) or ray.")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray).")
    ] = None,
    runs_per_gpu: Annotated[
        int | None,
        typer.Option("--runs-per-gpu", min=1, max=64, metavar="K",
                     help="Runs trained on each GPU at once, each charged its share of the board "
                     "(scenario.runs_per_gpu)."),
    ] = None,
) -> None:
    """Train every variant x seed of SCENARIO, measure it, and write the results folder."""
    from bnbench.commands.run import run_scenario

    overrides = [*(set_ or []), *([f"scenario.runs_per_gpu={runs_per_gpu}"] if runs_per_gpu else [])]
    code = run_scenario(scenario, out=out, devices=device, overrides=overrides, argv=sys.argv, resume=resume,
                        force=force, workers=workers, executor=executor, address=address)
    raise typer.Exit(code)


@app.command(context_settings={"allow_interspersed_args": False})
@friendly
def measure(
    commands: Annotated[list[str], typer.Argument(
        help="The command (after --), or several quoted commands to compare: 'python a.py' 'python b.py'.",
        show_default=False)],
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="Runs of each command (alternated).")] = 1,
    name: Annotated[list[str] | None, typer.Option("--name", help="A name per command (repeat).")] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="A metric the command reports (bnbench.reporter) to compare.")
    ] = None,
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better", help="The metric is better lower.")] = False,
    device: Annotated[
        list[str] | None, typer.Option("--device", "-d", help="cpu, cuda or cuda:N (default: every GPU, else CPU).")
    ] = None,
    idle_s: Annotated[float, typer.Option("--idle-s", min=0, help="Seconds of idle baseline first (net energy).")] = 0,
    sample_hz: Annotated[float, typer.Option("--sample-hz", min=0.1, max=100, help="Power samples a second.")] = 10,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Keep the command's output (in the results).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON (implies --quiet).")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Keep the results folder here.")] = None,
) -> None:
    """Meter a command as `time` does: wall and CPU time, energy, kWh, tea, CO2, cost; exits with its exit code."""
    from bnbench.commands.measure import MeasureOptions, split_commands
    from bnbench.commands.measure import measure as run_measure

    options = MeasureOptions(
        commands=tuple(tuple(c) for c in split_commands(commands)), names=tuple(name or ()), runs=runs,
        metric=metric, higher_is_better=not lower_is_better, device=tuple(device or ["auto"]), idle_s=idle_s,
        sample_hz=sample_hz, quiet=quiet, as_json=as_json, out=out)
    raise typer.Exit(run_measure(options, sys.argv))


@app.command()
@friendly
def plan(
    scenario: ScenarioArg,
    pilot: Annotated[
        Path | None, typer.Option("--pilot", help="A results folder of this scenario to estimate spread and cost.")
    ] = None,
    pilot_steps: Annotated[
        int | None, typer.Option("--pilot-steps", min=1, help="Run a short pilot first: this many steps, 3 seeds.")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Say what SCENARIO's question costs: seeds per variant to tell [stats] min_effect apart, kWh, tea, CO2."""
    from bnbench.commands.plan import plan_scenario

    plan_scenario(scenario, set_ or [], pilot, pilot_steps, sys.argv)


@app.command()
@friendly
def tea(
    energy: Annotated[str, typer.Argument(help="An energy: 18kWh, 500Wh, 64.8MJ, or power x time: 1.5kW*12h.")],
    wh_per_cup: Annotated[
        float | None,
        typer.Option(help="Watt-hours to make a cup of tea. [default: 33.3, the paper's 18 kWh / 540 cups]"),
    ] = None,
    co2: Annotated[float, typer.Option("--co2", help="Grams of CO2 per kWh of electricity.")] = 475.0,
    price: Annotated[float, typer.Option("--price", help="Price of a kWh.")] = 0.30,
    currency: Annotated[str, typer.Option(help="Currency of the price.")] = "USD",
    pue: Annotated[float, typer.Option(help="Data-centre PUE: facility energy / device energy.")] = 1.0,
) -> None:
    """Say what ENERGY means: kWh, cups of tea, CO2 and cost (`bnbench tea 18kWh`: 540 cups)."""
    from bnbench.commands.energy import tea_lines
    from bnbench.units import WH_PER_CUP

    for line in tea_lines(energy, WH_PER_CUP if wh_per_cup is None else wh_per_cup, co2, price, currency, pue):
        typer.echo(line)


@app.command()
@friendly
def devices() -> None:
    """List GPUs and RAPL zones, what can be read on each, and the energy source runs will use."""
    from bnbench.commands.energy import print_devices

    print_devices()


@app.command()
@friendly
def doctor(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for doctor.json and the end-to-end run (default: here).")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Where to write the JSON report.")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Skip the slow parts: the GPU burns and the end-to-end run.")
    ] = False,
    burn_s: Annotated[float, typer.Option("--burn-s", min=1.0, help="Seconds of load per GPU.")] = 10.0,
) -> None:
    """Check this machine: versions, GPU identity, meters, a load per GPU, SRCNN speed and a short real run."""
    from bnbench.commands.doctor import run_doctor

    raise typer.Exit(run_doctor(out, json_path, quick, burn_s, typer.echo))


@app.command()
@friendly
def schema() -> None:
    """Print the JSON Schema of scenario files, so an editor (taplo, Even Better TOML) completes and checks keys."""
    from bnbench.commands.schema import schema_text

    typer.echo(schema_text(), nl=False)


def _pipe_console() -> Any:
    """A rich Console for stdout whose closed pipe is a BrokenPipeError for `friendly` (exit 0), not rich's own
    exit 1."""
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return PipeConsole()


ResultsArg = Annotated[Path, typer.Argument(help="A results folder (holds runs.csv).", show_default=False,
                                            metavar="DIR")]


@app.command()
@friendly
def report(
    folder: ResultsArg,
    format_: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                                   help="What to print: table, md, html or json.")] = "table",
) -> None:
    """Rebuild every table, figure and report (md, html, json) of a results folder from its files alone."""
    from bnbench.commands.report import report as write_report

    write_report(folder, format_, _pipe_console())


@app.command()
@friendly
def compare(
    folder_a: ResultsArg,
    folder_b: ResultsArg,
    format_: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="What to print: table or json.")
    ] = "table",
) -> None:
    """Compare the variants two results folders share: B's runs against A's, with intervals and verdicts."""
    from bnbench.commands.report import compare as compare_folders

    compare_folders(folder_a, folder_b, format_, _pipe_console())


@app.command("eval")
@friendly
def eval_(
    folder: ResultsArg,
    run_id: Annotated[str, typer.Option("--run", "-r", help="The run to evaluate, e.g. bn-s0.", show_default=False)],
    device: Annotated[str, typer.Option("--device", "-d", help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Reload a run's final checkpoint and recompute its metric; it must equal the one recorded."""
    from bnbench.commands.eval import evaluate_run

    raise typer.Exit(evaluate_run(folder, run_id, device))


def main() -> None:
    app()
