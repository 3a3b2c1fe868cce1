"""The `bnbench` command: thin commands over the library. Heavy imports happen inside the commands."""

from __future__ import annotations

import errno
import functools
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bnbench import interrupt
from bnbench.commands.help_style import NamedArguments
from bnbench.commands.plain_values import PlainValuesGroup
from bnbench.errors import UserError
from bnbench.version import __version__

app = typer.Typer(
    name="bnbench",
    cls=PlainValuesGroup,
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
        except OSError as exc:
            if exc.filename is None:  # not about a path the user gave: a fault to show in full
                raise
            typer.echo(f"bnbench: error: {path_error(exc)}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def path_error(exc: OSError) -> str:
    """One line for an OSError about a path: the path, then why ('File name too long' says which limit)."""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        why += " (a file system takes file and folder names of up to 255 bytes)"
    return f"{exc.filename}: {why}"


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


@app.command(cls=NamedArguments)
@friendly
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario and print its run matrix, without training.

    It also says which device each run gets and how long the session should take.

    \b
    Example:
      bnbench validate scenarios/quick.toml --set train.max_steps=50
    """
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
    print_matrix(loaded, _pipe_console(), devices)


@app.command(cls=NamedArguments)
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
        str, typer.Option("--executor", metavar="local|ray|slurm",
                          help="local (this host's devices), ray or slurm (a job per run).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", metavar="ADDRESS",
                                 help="Ray cluster address (default: RAY_ADDRESS, else a local Ray).")
    ] = None,
    runs_per_gpu: Annotated[
        int | None,
        typer.Option("--runs-per-gpu", min=1, max=64, metavar="K",
                     help="Runs trained on each GPU at once, each charged its share of the board "
                     "(scenario.runs_per_gpu)."),
    ] = None,
    partition: Annotated[str | None, typer.Option("--partition", metavar="NAME", rich_help_panel="Slurm",
                                                  help="Slurm partition of the jobs (slurm.partition).")] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", metavar="N", rich_help_panel="Slurm",
                                             help="GPUs per job, 0 or 1 (slurm.gpus).")] = None,
    cpus: Annotated[int | None, typer.Option("--cpus", metavar="N", rich_help_panel="Slurm",
                                             help="CPU cores per job (slurm.cpus).")] = None,
    mem_gb: Annotated[float | None, typer.Option("--mem-gb", metavar="GB", rich_help_panel="Slurm",
                                                 help="Memory per job (slurm.mem_gb).")] = None,
    time_min: Annotated[int | None, typer.Option("--time-min", metavar="MIN", rich_help_panel="Slurm",
                                                 help="Time limit per job (slurm.time_min).")] = None,
) -> None:
    """Train every variant x seed of SCENARIO and measure it.

    Writes a results folder (default reports/NAME/TIME/) and ends with the answer at a glance.

    \b
    Example:
      bnbench run scenarios/quick.toml --set train.max_steps=50 --out reports/try
    """
    import json

    from bnbench.commands.run import run_scenario

    overrides = [*(set_ or []), *([f"scenario.runs_per_gpu={runs_per_gpu}"] if runs_per_gpu else [])]
    slurm = {"partition": partition, "gpus": gpus, "cpus": cpus, "mem_gb": mem_gb, "time_min": time_min}
    given = {key: value for key, value in slurm.items() if value is not None}
    if given and executor != "slurm":
        raise UserError(f"--{next(iter(given)).replace('_', '-')} is for --executor slurm")
    overrides += [f"slurm.{key}={json.dumps(value)}" for key, value in given.items()]
    code = run_scenario(scenario, out=out, devices=device, overrides=overrides, argv=sys.argv, resume=resume,
                        force=force, workers=workers, executor=executor, address=address, console=_pipe_console())
    raise typer.Exit(code)


@app.command(cls=NamedArguments, context_settings={"allow_interspersed_args": False})
@friendly
def measure(
    commands: Annotated[list[str], typer.Argument(
        help="The command (after --), or several quoted commands to compare: 'python a.py' 'python b.py'.",
        show_default=False, metavar="COMMAND")],
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, metavar="N",
                                      help="Runs of each command (alternated).")] = 1,
    warmup: Annotated[
        int, typer.Option("--warmup", "-w", min=0, metavar="N",
                          help="Unmeasured runs of each command first, output discarded.")
    ] = 0,
    name: Annotated[list[str] | None, typer.Option("--name", metavar="NAME",
                                                   help="A name per command (repeatable).")] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", metavar="NAME",
                                 help="A metric the command reports (bnbench.reporter) to compare.")
    ] = None,
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better", help="The metric is better lower.")] = False,
    device: Annotated[
        list[str] | None, typer.Option("--device", "-d", metavar="DEVICE",
                                       help="cpu, cuda or cuda:N (default: every GPU, else CPU).")
    ] = None,
    idle_s: Annotated[float, typer.Option("--idle-s", min=0, metavar="S",
                                          help="Seconds of idle baseline first (net energy).")] = 0,
    sample_hz: Annotated[float, typer.Option("--sample-hz", min=0.1, max=100, metavar="HZ",
                                             help="Power samples a second.")] = 10,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Keep the command's output (in the results).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON (implies --quiet).")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR",
                                             help="Keep the results folder here.")] = None,
) -> None:
    """Meter a command as `time` does, energy included.

    Prints wall and CPU time, energy, kWh, cups of tea, CO2 and cost, and exits with the command's exit code.
    The command's stdin is empty (/dev/null): it runs once per run, so it cannot read bnbench's input.

    \b
    Examples:
      bnbench measure -- python train.py --epochs 1
      bnbench measure -n 3 --warmup 1 'python a.py' 'python b.py'
    """
    from bnbench.commands.measure import MeasureOptions, split_commands
    from bnbench.commands.measure import measure as run_measure

    options = MeasureOptions(
        commands=tuple(tuple(c) for c in split_commands(commands)), names=tuple(name or ()), runs=runs,
        metric=metric, higher_is_better=not lower_is_better, device=tuple(device or ["auto"]), idle_s=idle_s,
        sample_hz=sample_hz, quiet=quiet, as_json=as_json, out=out, warmup=warmup)
    raise typer.Exit(run_measure(options, sys.argv))


@app.command(cls=NamedArguments)
@friendly
def plan(
    scenario: ScenarioArg,
    pilot: Annotated[
        Path | None, typer.Option("--pilot", metavar="DIR",
                                  help="A results folder of this scenario to estimate spread and cost.")
    ] = None,
    pilot_steps: Annotated[
        int | None, typer.Option("--pilot-steps", min=1, metavar="N",
                                 help="Run a short pilot first: this many steps, 3 seeds.")
    ] = None,
    set_: SetOpt = None,
) -> None:
    """Say what SCENARIO's question costs before running it.

    From a pilot: the seeds per variant that tell [stats] min_effect apart, their kWh, cups of tea, CO2 and time.
    Without --pilot or --pilot-steps it offers a short pilot.

    \b
    Example:
      bnbench plan scenarios/quick.toml --pilot-steps 100 -s stats.min_effect=0.5
    """
    from bnbench.commands.plan import plan_scenario

    plan_scenario(scenario, set_ or [], pilot, pilot_steps, sys.argv, _pipe_console())


@app.command(cls=NamedArguments)
@friendly
def tea(
    energy: Annotated[str, typer.Argument(help="An energy: 18kWh, 500Wh, 64.8MJ, or power x time: 1.5kW*12h.",
                                          metavar="ENERGY")],
    wh_per_cup: Annotated[
        float | None,
        typer.Option(metavar="WH", help="Watt-hours to make a cup of tea. [default: 33.3, the paper's 18 kWh / 540 "
                     "cups]"),
    ] = None,
    co2: Annotated[float, typer.Option("--co2", metavar="G", help="Grams of CO2 per kWh of electricity.")] = 475.0,
    price: Annotated[float, typer.Option("--price", metavar="PRICE", help="Price of a kWh.")] = 0.30,
    currency: Annotated[str, typer.Option(metavar="CODE", help="Currency of the price.")] = "USD",
    pue: Annotated[float, typer.Option(metavar="PUE", help="Data-centre PUE: facility energy / device energy.")] = 1.0,
) -> None:
    """Say what ENERGY means: kWh, cups of tea, CO2 and cost.

    \b
    Example:
      bnbench tea 18kWh          # the paper's night: 540 cups of tea
    """
    from bnbench.commands.energy import tea_lines
    from bnbench.units import WH_PER_CUP

    for line in tea_lines(energy, WH_PER_CUP if wh_per_cup is None else wh_per_cup, co2, price, currency, pue):
        typer.echo(line)


@app.command(cls=NamedArguments)
@friendly
def devices() -> None:
    """List GPUs and RAPL zones and what can be read on each.

    Ends with the energy source each kind of run will use.

    \b
    Example:
      bnbench devices
    """
    from bnbench.commands.energy import print_devices

    print_devices(_pipe_console())


@app.command(cls=NamedArguments)
@friendly
def doctor(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="DIR",
                                  help="Folder for doctor.json and the end-to-end run (default: doctor.json here, the "
                                  "run in a temporary folder).")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", metavar="PATH", help="Where to write the JSON report.")
                         ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Skip the slow parts: the GPU burns and the end-to-end run.")
    ] = False,
    burn_s: Annotated[float, typer.Option("--burn-s", min=1.0, metavar="S", help="Seconds of load per GPU.")] = 10.0,
) -> None:
    """Check that this machine measures what bnbench says.

    Versions, GPU identity, meters, a load per GPU, SRCNN speed and a short real run: one PASS, WARN, FAIL or
    SKIP line each, and doctor.json.

    \b
    Example:
      bnbench doctor --quick
    """
    from bnbench.commands.doctor import run_doctor
    from bnbench.stdout import write_line

    raise typer.Exit(run_doctor(out, json_path, quick, burn_s, write_line))  # a closed pipe stops no check


@app.command(cls=NamedArguments)
@friendly
def schema() -> None:
    """Print the JSON Schema of scenario files, for editors.

    An editor with a TOML language server (taplo, Even Better TOML) then completes and checks keys as they are
    typed.

    \b
    Example:
      bnbench schema > bnbench.schema.json
    """
    from bnbench.commands.schema import schema_text

    typer.echo(schema_text(), nl=False)


def _pipe_console() -> Any:
    """The Console a command prints to: never wrapped off a terminal; a closed pipe stops the printing, never
    the work or its exit code (bnbench.rendering.terminal)."""
    from bnbench.rendering.terminal import console

    return console()


ResultsArg = Annotated[Path, typer.Argument(help="A results folder (holds runs.csv).", show_default=False,
                                            metavar="DIR")]
BaselineArg = Annotated[Path, typer.Argument(help="The baseline results folder (A): the others are set against it.",
                                             show_default=False, metavar="BASELINE_DIR")]
OtherArg = Annotated[Path, typer.Argument(help="The results folder compared with the baseline (B).",
                                          show_default=False, metavar="DIR")]


@app.command(cls=NamedArguments)
@friendly
def report(
    folder: ResultsArg,
    format_: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                                   help="What to print: table, md, html or json.")] = "table",
    svg: Annotated[bool, typer.Option("--svg", help="Save each figure as SVG too, beside its PNG.")] = False,
) -> None:
    """Rebuild a results folder's tables and reports from its files.

    Writes report.md, report.html and report.json (figures only where their data changed) and prints the chosen
    format; for html, the page's path.

    \b
    Examples:
      bnbench report reports/quick/20260101-120000
      bnbench report DIR --format json | jq .verdicts
      bnbench report DIR --svg      # figures/*.svg for a paper
    """
    from bnbench.blas import one_blas_thread

    with one_blas_thread():  # before numpy loads: see bnbench/blas.py
        from bnbench.commands.report import report as write_report

        write_report(folder, format_, _pipe_console(), svg=svg)


@app.command(cls=NamedArguments)
@friendly
def compare(
    folder_a: BaselineArg,
    folder_b: OtherArg,
    format_: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT",
                          help="What to print: table, json, or github (Markdown for a CI job's summary page).")
    ] = "table",
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", metavar="worse",
                                 help="Exit 1 when a shared variant is worse in B beyond seed luck (a CI gate).")
    ] = None,
    gate_on: Annotated[
        str | None, typer.Option("--gate-on", metavar="LIST",
                                 help="What --fail-on gates: metric, energy, wall, comma-separated. [default: all]")
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option("--tolerance", metavar="PCT",
                                   help="With --fail-on: energy and wall time fail only beyond PCT % above A's.")
    ] = None,
) -> None:
    """Compare the variants two results folders share.

    The first folder is the baseline: each variant's runs in the second are set against its runs in the first
    (second minus first, second / first), with 95% intervals and verdicts. With --fail-on worse it is a CI gate.

    \b
    Examples:
      bnbench compare reports/quick/before reports/quick/after
      bnbench compare base/ pr/ --fail-on worse --tolerance 10 --format github
    """
    from bnbench.blas import one_blas_thread

    with one_blas_thread():  # before numpy loads: see bnbench/blas.py
        from bnbench.commands.compare import compare as compare_folders
        from bnbench.commands.compare import gate_options

        gate = gate_options(fail_on, gate_on, tolerance)
        code = compare_folders(folder_a, folder_b, format_, _pipe_console(), gate)
    raise typer.Exit(code)


@app.command(cls=NamedArguments)
@friendly
def export(
    folder: ResultsArg,
    mlflow: Annotated[
        str | None, typer.Option("--mlflow", metavar="URI",
                                 help="An MLflow tracking URI: http://host:5000, sqlite:///mlflow.db or a folder.")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", metavar="NAME",
                                 help="The MLflow experiment. [default: the scenario's name]")
    ] = None,
) -> None:
    """Export a results folder to MLflow.

    One MLflow run per bnbench run (its curves, energy, settings and verdict) under one per session;
    re-exporting the same folder writes no duplicates.

    \b
    Example:
      bnbench export reports/quick/20261203-101500 --mlflow http://localhost:5000
    """
    from bnbench.commands.export import export_folder

    export_folder(folder, mlflow, experiment, typer.echo)


@app.command("eval", cls=NamedArguments)
@friendly
def eval_(
    folder: ResultsArg,
    run_id: Annotated[str, typer.Option("--run", "-r", metavar="RUN_ID", help="The run to evaluate, e.g. bn-s0.",
                                        show_default=False)],
    device: Annotated[str, typer.Option("--device", "-d", metavar="DEVICE", help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Recompute a run's metric from its final checkpoint.

    The figure must equal the one recorded in runs.csv.

    \b
    Example:
      bnbench eval reports/quick/20260101-120000 --run bn-s0
    """
    from bnbench.commands.eval import evaluate_run

    raise typer.Exit(evaluate_run(folder, run_id, device, _pipe_console()))


def main() -> None:
    try:
        try:
            interrupt.install()  # a Ctrl-C raises Interrupted: bnbench.interrupt says why not KeyboardInterrupt
            app()
        finally:
            # A Ctrl-C landing before this is raised into the except below; after it, only noted: no exception
            # can then escape main, which would end the process as a death by SIGINT (-2) and a traceback.
            interrupt.end()
    except SystemExit as done:
        code = done.code
        # Help and --version print before any command, outside `friendly`: typer answers their closed pipe by
        # exit 1, after swapping stdout for its (vendored, so named not imported) PacifyFlushWrapper, which it
        # does on that path alone. Unpiped they exit 0.
        if done.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            code = 0
    except KeyboardInterrupt:  # outside typer's own turning of one into 130: before the command, or as it ended
        code = interrupt.EXIT_SIGINT
    else:
        code = 0
    finally:
        # The command is done and every file it wrote is closed: what is left is the interpreter's exit, whose
        # collections scanned every object pandas, pyarrow and matplotlib made (0.2 s of a report's 2.5 s).
        # Frozen, they are left to the exit as they are; atexit handlers and the flushing of stdout still run.
        gc.freeze()
    raise SystemExit(interrupt.EXIT_SIGINT if interrupt.came_late() else code)
