"""`bnbench run` and `bnbench validate`: from a scenario file to a results folder."""

from __future__ import annotations

import datetime as dt
import functools
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from bnbench.checks import check_scenario
from bnbench.errors import UserError
from bnbench.scenario import COMMAND, RunSpec, Scenario, expand, load

if TYPE_CHECKING:
    from bnbench.display import Progress

EXIT_OK, EXIT_RUN_FAILED = 0, 1
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def print_matrix(scenario: Scenario, console: Console | None = None) -> None:
    """The runs a scenario expands to, one row each, and what each variant overrides."""
    check_scenario(scenario)
    console = console or Console()
    table = Table(title=f"{scenario.name}: {len(expand(scenario))} runs")
    if scenario.task.name == COMMAND:
        from bnbench.execute.command import describe

        for column in ("run", "variant", "seed", "command"):
            table.add_column(column)
        for spec in expand(scenario):
            table.add_row(spec.run_id, spec.variant, str(spec.seed), describe(spec))
        console.print(table)
        console.print(f"scenario '{scenario.name}' from {scenario.source} is valid")
        return
    for column in ("run", "variant", "seed", "model", "norm", "steps", "overrides"):
        table.add_column(column)
    for spec in expand(scenario):
        variant = next(v for v in scenario.variants if v.name == spec.variant)
        overrides = ", ".join(f"{k}={v}" for k, v in variant.overrides) or "-"
        table.add_row(spec.run_id, spec.variant, str(spec.seed), spec.model.arch, spec.model.norm,
                      str(spec.train.max_steps), overrides)
    console.print(table)
    console.print(f"scenario '{scenario.name}' from {scenario.source} is valid")


def default_out(scenario: Scenario) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / scenario.name / stamp


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[dict[str, int]]:
    """SIGINT/SIGTERM set `stop` (the current step finishes, state is saved); a second SIGINT exits at once."""
    received: dict[str, int] = {}

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received["signal"] = signum
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def resume_folder(out: Path | None, resume: Path | None) -> Path | None:
    """The results folder to continue: `--resume DIR`, or an `--out DIR` that already holds results."""
    from bnbench.errors import UserError

    if resume is not None and out is not None and resume.resolve() != out.resolve():
        raise UserError(f"--resume {resume} and --out {out} name different folders; give one of them")
    if resume is not None:
        return resume
    return out if out is not None and (out / "runs.csv").exists() else None


def reopen(root: Path, scenario: Scenario, info: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """The manifest of a resumed folder: the first start's stamps, plus one entry per resume (when, where, the
    command, what changed). A forced change also replaces scenario.toml, so the folder describes what runs now."""
    import tomli_w

    from bnbench.errors import UserError
    from bnbench.results.atomic import atomic_write_text
    from bnbench.results.load import load_manifest
    from bnbench.results.store import RunStore

    earlier = load_manifest(root) or dict(info)
    entry = {k: info.get(k) for k in ("started_at", "host", "command", "bnbench", "code_commit", "code_dirty")}
    merged = {**earlier, "ended_at": None, "resumes": [*earlier.get("resumes", []), {**entry, "changes": changes}]}
    try:
        if changes:
            atomic_write_text(root / "scenario.toml", tomli_w.dumps(scenario.to_dict()))
            merged["scenario_fingerprint"] = scenario.fingerprint()
        RunStore(root).write_manifest(merged)
    except OSError as exc:
        raise UserError(f"{root}: cannot write results ({exc.strerror or exc})") from None
    return merged


def plan_executor(
    scenario: Scenario, specs: list[RunSpec], devices: list[str], workers: int | None, executor: str,
    address: str | None, requested: list[str] | None = None,
) -> Callable[..., list[dict[str, Any]]]:
    """The executor that will train the matrix, checked before any folder is written (UserError if it cannot):
    the local pool's slots, or a connection to a Ray cluster (whose GPUs `requested` devices, or the scenario's,
    may use even when this host has none)."""
    from bnbench.execute import ddp, pool
    from bnbench.execute.local import run_matrix

    gpus_per_run = scenario.scenario.gpus_per_run
    ddp.check_divisible(specs, gpus_per_run)
    workers = workers or scenario.scenario.workers
    if executor == "ray":
        from bnbench.execute.ray_executor import RayExecutor

        return RayExecutor.connect(address, requested or scenario.scenario.device, gpus_per_run)
    if executor != "local":
        raise UserError(f"unknown executor '{executor}'; use local or ray")
    if address:
        raise UserError("--address is for --executor ray")
    slots = pool.plan_slots(devices, workers, gpus_per_run, pool.usable_cores(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    return functools.partial(run_matrix, slots=slots)


def run_scenario(
    path: Path, out: Path | None, devices: Sequence[str] | None, overrides: Sequence[str], argv: list[str],
    resume: Path | None = None, force: bool = False,
    workers: int | None = None, executor: str = "local", address: str | None = None,
) -> int:
    """Validate everything, then train the matrix (or what a results folder still lacks of it). Returns the
    process exit code."""
    scenario = load(path, overrides)
    return execute_scenario(scenario, out=out, devices=devices, argv=argv, resume=resume, force=force,
                            workers=workers, executor=executor, address=address).code


@dataclass(frozen=True)
class Session:
    """What `execute_scenario` did: the exit code, the results folder and the rows of the runs it holds."""

    code: int
    out: Path
    rows: list[dict[str, Any]]


def execute_scenario(
    scenario: Scenario, out: Path | None, devices: Sequence[str] | None, argv: list[str],
    resume: Path | None = None, force: bool = False, workers: int | None = None, executor: str = "local",
    address: str | None = None, console: Console | None = None, progress: Progress | None = None,
    report: bool = True, specs: list[RunSpec] | None = None,
) -> Session:
    """`bnbench run` from a loaded scenario: checks, results folder, idle baseline, the runs (`specs`, default
    the whole matrix in matrix order), then the report (unless `report` is False). `bnbench measure` is such a
    session of one-off command runs."""
    from bnbench.commands.energy import idle_baseline
    from bnbench.commands.report import report_after_run
    from bnbench.data import check_runs, task_metadata
    from bnbench.display import make_progress
    from bnbench.energy.devices import gpu_manifest
    from bnbench.execute.local import resolve_devices
    from bnbench.execute.resume import check_resumable, plan_runs
    from bnbench.results import manifest
    from bnbench.results.schema import run_columns
    from bnbench.results.store import RunStore

    check_scenario(scenario)
    specs = specs or expand(scenario)
    check_runs(specs)  # data folders, model options and input sizes: a UserError before any folder is written
    metric, _, _, references = task_metadata(scenario.task)
    device_list = resolve_devices(list(devices) if devices else scenario.scenario.device)
    run_on = plan_executor(scenario, specs, device_list, workers, executor, address, list(devices or []))
    resuming = resume_folder(out, resume)
    out = resuming or out or default_out(scenario)
    changes = check_resumable(out, scenario, force) if resuming else []
    info = manifest.collect(argv, device_list, gpus=gpu_manifest())
    info["scenario_fingerprint"] = scenario.fingerprint()
    if resuming:
        info = reopen(out, scenario, info, changes)
        store = RunStore(out)
    else:
        store = RunStore.create(out, scenario.to_dict(), info, run_columns(metric, references))

    console = console or Console()
    adaptive = scenario.scenario.adaptive
    runs_text = (f"{adaptive.min} to {adaptive.max} rounds of {len(scenario.variants)} runs" if adaptive
                 else f"{len(specs)} runs")
    console.print(f"bnbench {info['bnbench']}: {runs_text} of '{scenario.name}' on {', '.join(device_list)} "
                  f"-> {out}")
    if resuming:
        plans = plan_runs(out, specs)
        counts = {a: sum(p.action == a for p in plans) for a in ("skip", "resume", "start")}
        console.print(f"resuming: {counts['skip']} finished, {counts['resume']} continue from a checkpoint, "
                      f"{counts['start']} start from step 0" + "".join(f"\n  changed: {c}" for c in changes))
    # Before the first run; runs read it back. A Ray cluster meters each node's own.
    measure_idle = getattr(run_on, "idle_baseline", functools.partial(idle_baseline, device_list))
    info.update(measure_idle(scenario.energy, console))
    store.write_manifest(info)
    stop = threading.Event()
    progress = progress or make_progress(specs, metric, console)
    with stop_on_signals(stop) as received:
        try:
            if scenario.scenario.adaptive:
                from bnbench.execute.rounds import run_rounds

                rows = run_rounds(scenario, specs, run_on, device_list, store, progress, stop,
                                  lambda text: console.print(text, markup=False, highlight=False))
            else:
                rows = run_on(specs, device_list, store, progress, stop)
        except KeyboardInterrupt:  # a second Ctrl-C: leave now; each run resumes from its last checkpoint
            console.print(f"interrupted twice: stopped at once; resume with --resume {out}")
            return Session(EXIT_SIGINT, out, [])
        finally:
            progress.close()
            info["ended_at"] = manifest.now_iso()
            if info.get("resumes"):
                info["resumes"][-1]["ended_at"] = info["ended_at"]
            try:
                store.write_manifest(info)
            except OSError as exc:  # the error that stopped the runs says more; the old manifest is intact
                console.print(f"could not update {out / 'manifest.json'}: {exc.strerror or exc}")
    if "signal" in received:  # exit within seconds (a scheduler's grace period); the report can wait
        console.print(f"interrupted: state saved; resume with --resume {out}, or `bnbench report {out}` for what "
                      "is done")
        return Session(EXIT_SIGTERM if received["signal"] == signal.SIGTERM else EXIT_SIGINT, out, rows)
    if report:
        report_after_run(out, console)
        console.print(f"results: {out}")
    return Session(EXIT_RUN_FAILED if any(r["status"] == "failed" for r in rows) else EXIT_OK, out, rows)
