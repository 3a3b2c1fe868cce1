"""`bnbench run` and `bnbench validate`: from a scenario file to a results folder."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from rich.console import Console

from bnbench.commands.checks import check_before_running
from bnbench.errors import UserError
from bnbench.interrupt import EXIT_SIGINT, Interrupted
from bnbench.scenario import COMMAND, RunSpec, Scenario, TrainConfig, expand, load
from bnbench.version import __version__

if TYPE_CHECKING:
    from bnbench.execute.pool import Slot, WorkerPool
    from bnbench.execute.progress import Progress
    from bnbench.execute.resume import RunPlan

EXIT_OK, EXIT_RUN_FAILED = 0, 1
EXIT_SIGTERM = 143


def print_matrix(scenario: Scenario, console: Console | None = None, devices: list[str] | None = None) -> None:
    """The runs a scenario expands to, one row each, and what each variant overrides (a checked scenario); with
    the resolved `devices`, also what each run gets and how long the session should take."""
    from bnbench.rendering.format import plural
    from bnbench.rendering.table import plain_table, say, show

    console = console or Console()
    table = plain_table(f"{scenario.name}: {plural(len(expand(scenario)), 'run')}")
    if scenario.task.name == COMMAND:
        from bnbench.execute.command import describe

        for column in ("run", "variant", "seed", "command"):
            table.add_column(column)
        for spec in expand(scenario):
            table.add_row(spec.run_id, spec.variant, str(spec.seed), describe(spec))
    else:
        for column in ("run", "variant", "seed", "model", "norm", "steps", "overrides"):
            table.add_column(column)
        for spec in expand(scenario):
            variant = next(v for v in scenario.variants if v.name == spec.variant)
            overrides = ", ".join(f"{k}={toml_value(v)}" for k, v in variant.overrides) or "-"
            table.add_row(spec.run_id, spec.variant, str(spec.seed), spec.model.arch, spec.model.norm,
                          str(spec.train.max_steps), overrides)
    show(console, table)
    if devices is not None:
        from bnbench.commands.expect import cpu_share, duration_line, slots

        where = slots(scenario, devices)
        say(console, f"each run gets: {where.each} ({where.at_once} at a time)")
        if not any(d.startswith("cuda") for d in devices):  # the warning `run` gives, before it is run
            share = cpu_share(scenario)
            if (warning := thread_warning(scenario, lambda train: min(train.threads or share, share))) is not None:
                say(console, warning)
        say(console, duration_line(scenario, devices))
    say(console, f"scenario '{scenario.name}' from {scenario.source} is valid")


def toml_value(value: object) -> str:
    """An override as the scenario file spells it: true, 0.9, "batch" (not Python's True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def default_out(scenario: Scenario) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / scenario.name / stamp


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[dict[str, int]]:
    """SIGINT/SIGTERM set `stop` (the current step finishes, state is saved); a second SIGINT exits at once.

    The handler runs on the main thread, between two of its bytecodes, and `stop.set()` takes the Event's lock.
    So the main thread must only poll `stop.is_set()`, never block in `stop.wait()`: a signal landing while
    `wait` holds that lock would leave the handler waiting on its own thread for ever."""
    received: dict[str, int] = {}

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise Interrupted  # not KeyboardInterrupt itself: bnbench.interrupt says why
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


def reopen(root: Path, scenario: Scenario, info: dict[str, Any], changes: list[str], plans: list[RunPlan]
           ) -> dict[str, Any]:
    """The manifest of a resumed folder: the first start's stamps, plus one entry per resume (when, where, the
    command, what changed, which runs train on now and which had finished before). A forced change also replaces
    scenario.toml, so the folder describes what runs now; the entry says which runs trained with what before."""
    import tomli_w

    from bnbench.errors import UserError
    from bnbench.results.atomic import atomic_write_text
    from bnbench.results.load import load_manifest
    from bnbench.results.store import RunStore

    earlier = load_manifest(root) or dict(info)
    entry = {k: info.get(k) for k in ("started_at", "host", "command", "bnbench", "code_commit", "code_dirty",
                                      "run_order", "math_mode")}
    entry |= {"changes": changes, "trained": [p.spec.run_id for p in plans if p.action != "skip"],
              "finished_before": [p.spec.run_id for p in plans if p.action == "skip"]}
    merged = {**earlier, "ended_at": None, "resumes": [*earlier.get("resumes", []), entry]}
    if not earlier.get("resumes"):  # the first session's end, which "ended_at" no longer holds: elapsed time
        merged["first_ended_at"] = earlier.get("ended_at")
    try:
        if changes:
            atomic_write_text(root / "scenario.toml", tomli_w.dumps(scenario.to_dict()))
            merged["scenario_fingerprint"] = scenario.fingerprint()
        RunStore(root).write_manifest(merged)
    except OSError as exc:
        raise UserError(f"{root}: cannot write results ({exc.strerror or exc})") from None
    return merged


def _started() -> None:
    return None


def _say(console: Console, text: str) -> None:
    from bnbench.rendering.terminal import say

    say(console, text)


class Executor(NamedTuple):
    """What trains the matrix: `run` (specs, devices, store, progress, stop) -> rows; `slots`, the runs it trains
    at once (what the hand-out order rotates the variants over); `threads`, the torch threads of a run with
    these `[train]` settings there (None: torch's default); `ready`, returns once its workers have started;
    `devices`, each slot's device, slots that share one naming it alike (empty: each slot its own), so that the
    hand-out order packs every variant alike; `entries`, what the runs learned for the manifest once they ended
    (a cluster's nodes' idle baselines)."""

    run: Callable[..., list[dict[str, Any]]]
    slots: int
    threads: Callable[[TrainConfig], int | None]
    ready: Callable[[], None] = _started
    devices: tuple[str, ...] = ()
    entries: Callable[[], dict[str, Any]] = dict


def local_slots(scenario: Scenario, devices: list[str], workers: int | None) -> list[Slot]:
    """The local pool's slots for these resolved devices (UserError where they do not fit)."""
    from bnbench.cores import usable_cores
    from bnbench.energy.identity import cuda_uuids
    from bnbench.execute import pool

    gpus = max((int(d.partition(":")[2]) + 1 for d in devices if d.startswith("cuda:")), default=0)
    return pool.plan_slots(devices, workers or scenario.scenario.workers, scenario.scenario.gpus_per_run,
                           usable_cores(), os.environ.get("CUDA_VISIBLE_DEVICES"), cuda_uuids(gpus),
                           runs_per_gpu_on(scenario, devices))


def runs_per_gpu_on(scenario: Scenario, devices: Sequence[str]) -> int:
    """The runs packed on each GPU at once: `[scenario] runs_per_gpu` on GPUs; 1 on the CPU, said once (there,
    --workers packs runs, each on its own share of the cores)."""
    asked = scenario.scenario.runs_per_gpu
    if asked > 1 and not any(d.startswith("cuda") for d in devices):
        from bnbench.energy.meter import warn_once

        warn_once(f"runs_per_gpu = {asked} applies to GPUs and these runs train on the CPU; there, --workers N "
                  "trains N runs at once, each on its share of the cores")
        return 1
    return asked


@contextmanager
def early_pool(scenario: Scenario, devices: list[str], workers: int | None, executor: str, address: str | None
               ) -> Iterator[WorkerPool | None]:
    """The local pool's workers, started at once so that their start-up (spawn, import torch, join a group:
    seconds each) overlaps the checks still to come instead of following them; closed on leaving. None where the
    runs train in this process, on Ray, or where the slots do not fit (plan_executor then says why)."""
    from bnbench.execute.pool import WorkerPool, pooled

    slots = None
    if executor == "local" and not address:
        with contextlib.suppress(UserError):
            slots = local_slots(scenario, devices, workers)
    if not slots or not pooled(slots):
        yield None
        return
    pool = WorkerPool(slots)
    try:
        yield pool
    finally:
        pool.close()


def plan_executor(
    scenario: Scenario, specs: list[RunSpec], devices: list[str], workers: int | None, executor: str,
    address: str | None, requested: list[str] | None = None, pool: WorkerPool | None = None,
    say: Callable[[str], None] = print,
) -> Executor:
    """The executor that will train the matrix, checked before any folder is written (UserError if it cannot):
    the local pool's slots (and `pool`, its workers if early_pool started them), or a connection to a Ray
    cluster (whose GPUs `requested` devices, or the scenario's, may use even when this host has none)."""
    from bnbench.execute.local import run_matrix

    gpus_per_run = scenario.scenario.gpus_per_run
    if gpus_per_run > 1:  # DDP's module imports torch: a run of one process (a command's) needs none of it
        from bnbench.execute import ddp

        ddp.check_divisible(specs, gpus_per_run)
    workers = workers or scenario.scenario.workers
    if executor == "ray":
        from bnbench.execute.ray_executor import RayExecutor

        if scenario.scenario.runs_per_gpu > 1:
            raise UserError("runs_per_gpu > 1 is for the local executor: on Ray, each task holds its GPUs whole")

        ray = RayExecutor.connect(address, requested or scenario.scenario.device, gpus_per_run)
        return Executor(ray, ray.slots, lambda train: train.threads or 1)  # a task's CPUs
    if address:
        raise UserError("--address is for --executor ray")
    if executor == "slurm":
        from bnbench.execute.slurm_executor import SlurmExecutor

        slurm = SlurmExecutor.connect(scenario, requested or scenario.scenario.device, say)
        return Executor(slurm, slurm.slots, slurm.threads, entries=slurm.manifest_entries)
    if executor != "local":
        raise UserError(f"unknown executor '{executor}'; use local, ray or slurm")
    slots = pool.slots if pool is not None else local_slots(scenario, devices, workers)
    share = slots[0].threads  # a CPU slot's share of the cores caps its runs' threads (pool.with_threads)
    return Executor(functools.partial(run_matrix, slots=slots, pool=pool), len(slots),
                    lambda train: train.threads if share is None else min(train.threads or share, share),
                    pool.wait_ready if pool is not None else _started, tuple(slot.label for slot in slots))


def thread_warning(scenario: Scenario, threads: Callable[[TrainConfig], int | None]) -> str | None:
    """One line when a variant's `threads` asks for more torch threads than its slot owns cores (its runs get
    the slot's share: threads beyond the cores a run owns would wait on each other and on the other slots'
    runs, and time identical runs unequally); None when every variant fits."""
    capped = [(v.train.threads, got) for v in scenario.variants
              if v.train.threads is not None and (got := threads(v.train)) is not None and got < v.train.threads]
    if not capped:
        return None
    from bnbench.rendering.format import plural

    asked, got = max(a for a, _ in capped), min(g for _, g in capped)
    return (f"warning: threads = {asked} is more than the {plural(got, 'core')} each run's slot owns; runs use "
            f"{got} (set threads = {got} or fewer, or run fewer workers at once)")


def run_scenario(
    path: Path, out: Path | None, devices: Sequence[str] | None, overrides: Sequence[str], argv: list[str],
    resume: Path | None = None, force: bool = False,
    workers: int | None = None, executor: str = "local", address: str | None = None, console: Console | None = None,
) -> int:
    """Validate everything, then train the matrix (or what a results folder still lacks of it). Returns the
    process exit code."""
    from bnbench.rendering.terminal import is_stdout_closed

    scenario = load(path, overrides)
    session = execute_scenario(scenario, out=out, devices=devices, argv=argv, resume=resume, force=force,
                               workers=workers, executor=executor, address=address, path=path, console=console)
    if is_stdout_closed():  # what the closed pipe did not show, the folder holds
        import sys

        print(f"bnbench: results: {session.out} (bnbench report {session.out})", file=sys.stderr)
    return session.code


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
    report: bool = True, specs: list[RunSpec] | None = None, path: Path | None = None, resumable: bool = True,
    scratch: bool = False,
) -> Session:
    """`bnbench run` from a loaded scenario: checks, results folder (held by this process), idle baseline, the
    runs (`specs` in the order given, default the whole matrix in the scenario's hand-out order), then the report
    (unless `report` is False). `bnbench measure` is such a session of one-off command runs, which has no
    --resume: not `resumable`, an interruption names no folder to resume. A `scratch` folder is deleted once
    its rows are read (measure without --out): its power table is not written (RunStore.discard)."""
    from bnbench.energy.session_warnings import session_warnings
    from bnbench.scenario import trust_scenario_folder

    trust_scenario_folder(scenario)  # before a pool starts: its workers inherit the import path
    with session_warnings():  # before a pool starts: its workers inherit the file of warnings said
        return _execute(scenario, out, devices, argv, resume, force, workers, executor, address, console, progress,
                        report, specs, path, resumable, scratch)


def _execute(
    scenario: Scenario, out: Path | None, devices: Sequence[str] | None, argv: list[str], resume: Path | None,
    force: bool, workers: int | None, executor: str, address: str | None, console: Console | None,
    progress: Progress | None, report: bool, specs: list[RunSpec] | None, path: Path | None, resumable: bool,
    scratch: bool,
) -> Session:
    from bnbench.execute.devices import resolve_devices
    from bnbench.results.lock import hold, refuse_foreign_contents

    given = specs
    specs = specs or expand(scenario)
    device_list = resolve_devices(list(devices) if devices else scenario.scenario.device)  # no torch for the CPU
    # The pool's workers import torch while this process imports it for the checks; a refusal ends them.
    with early_pool(scenario, device_list, workers, executor, address) as pool:
        check_before_running(scenario, specs, device_list)  # a UserError before any folder is written
        run_on = plan_executor(scenario, specs, device_list, workers, executor, address, list(devices or []), pool,
                               functools.partial(_say, console or Console()))
        resume_folder(out, resume)  # refuses two different folders before anything is created
        if resume is not None and not (resume / "runs.csv").is_file():
            from bnbench.rendering.terminal import say
            from bnbench.results.lock import LOCK_NAME, only_start_files

            if not (resume.is_dir() and only_start_files(resume)):
                raise UserError(f"{resume}: not a bnbench results folder (no runs.csv); nothing to resume")
            # Stopped (killed) before it wrote runs.csv: there is nothing to resume, so start it afresh.
            held = "the lock" if {p.name for p in resume.iterdir()} <= {LOCK_NAME} else "the first files"
            say(console or Console(), f"{resume} holds only {held} of a session stopped before its first run was "
                                      "written: starting it afresh")
            out, resume = resume, None
        folder = resume or out or default_out(scenario)
        if resume is None and not (folder / "runs.csv").exists():
            refuse_foreign_contents(folder)  # before the lock's file: nothing is left among someone else's files
        with hold(folder):  # one writer per folder; whether it resumes is decided under the lock
            return _session(scenario, specs, given is not None, folder, resume_folder(out, resume), force,
                            device_list, run_on, argv, path or scenario.source, console or Console(), progress, report,
                            resumable, scratch)


def _session(
    scenario: Scenario, specs: list[RunSpec], ordered: bool, out: Path, resuming: Path | None, force: bool,
    device_list: list[str], run_on: Executor, argv: list[str], path: Path | str, console: Console,
    progress: Progress | None, report: bool, resumable: bool = True, scratch: bool = False,
) -> Session:
    """Train `specs` into `out`, held by this process: a new folder, or the rest of `resuming`. `ordered`: hand
    the runs out as given, else in the scenario's order."""
    from bnbench.commands.energy import idle_baseline
    from bnbench.commands.export import export_after_run
    from bnbench.commands.report import report_after_run
    from bnbench.data import task_metadata
    from bnbench.energy.devices import gpu_manifest
    from bnbench.energy.sampler import gpu_sample_hz
    from bnbench.execute.order import arrange
    from bnbench.execute.resume import check_resumable, keep_the_folders_loop, plan_runs, unfinished_sessions
    from bnbench.rendering.display import make_progress
    from bnbench.rendering.format import plural
    from bnbench.rendering.terminal import say
    from bnbench.results import manifest
    from bnbench.results.load import load_manifest
    from bnbench.results.lock import refuse_symlinks, remove_temporaries
    from bnbench.results.schema import run_columns
    from bnbench.results.store import RunStore

    metric, _, _, references = task_metadata(scenario.task)
    if resuming:
        refuse_symlinks(out)
        changes = check_resumable(out, scenario, force)
        for leftover in remove_temporaries(out):
            say(console, f"removed {leftover}: a write cut short by an earlier kill")
        scenario, specs, kept = keep_the_folders_loop(load_manifest(out) or {}, scenario, specs)
        if kept and any(d.startswith("cuda") for d in device_list):
            say(console, f"{out} was begun when the eager loop was the default on a GPU: its runs with graph unset "
                         "keep the eager loop (graph = false), so the folder's runs stay of one loop")
    else:
        changes = []
    plans = plan_runs(out, specs) if resuming else []
    # The hand-out order, which keeps every variant equally packed where slots share a GPU.
    queue = specs if ordered else arrange(specs, scenario.scenario.order, run_on.slots, run_on.devices)
    adaptive = scenario.scenario.adaptive
    runs_text = (f"{adaptive.min} to {adaptive.max} rounds of {plural(len(scenario.variants), 'run')}" if adaptive
                 else plural(len(specs), "run"))
    # A scratch folder (measure without --out) is gone when the command ends: its path would be a dead end.
    header = (f"bnbench {__version__}: {runs_text} of '{scenario.name}' on {', '.join(device_list)}"
              + ("" if scratch else f" -> {out}"))
    nothing_left = resuming and not adaptive and all(p.action == "skip" for p in plans)
    if nothing_left and (out / "manifest.json").is_file():  # without one, the resume below writes it afresh
        # Nothing to train: leave the manifest (end time, idle baseline) and scenario.toml as the runs left them.
        say(console, header)
        unused = "; the changed settings are not applied: no run would train with them" if changes else ""
        say(console, f"nothing left to resume: all {plural(len(plans), 'run')} in {out} are finished{unused}")
        if report and report_after_run(out, console) == "interrupted":
            return Session(EXIT_SIGINT, out, [])
        export_after_run(scenario, out, lambda text: say(console, text))  # an export added since: idempotent
        say(console, f"results: {out}")
        return Session(EXIT_OK, out, [])
    if not resuming and not adaptive:  # an adaptive session that decided early leaves seeds unrun on purpose
        for earlier in unfinished_sessions(out.parent, scenario, specs)[:1]:
            say(console, f"note: {earlier.root} holds an interrupted session of '{scenario.name}' with the same "
                         f"settings ({earlier.finished} of {plural(earlier.total, 'run')} finished); to continue that "
                         f"one instead, press Ctrl-C and run: bnbench run {path} --resume {earlier.root}")
    info = manifest.collect(argv, device_list, gpus=gpu_manifest())
    info["gpus"] = gpu_sample_hz(info["gpus"], scenario.energy.sample_hz, scenario.scenario.gpus_per_run)
    info["scenario_fingerprint"] = scenario.fingerprint()
    info["run_order"] = {"order": scenario.scenario.order, "slots": run_on.slots, "runs": [s.run_id for s in queue],
                         "runs_per_gpu": runs_per_gpu_on(scenario, device_list)}
    if info["run_order"]["runs_per_gpu"] > 1 and run_on.devices:  # how the order planned each run to be packed
        from bnbench.execute.order import lockstep_packing

        planned = lockstep_packing(len(queue), run_on.devices)
        info["run_order"]["packing"] = {spec.run_id: k for spec, k in zip(queue, planned, strict=True)}
    if scenario.task.name != COMMAND:  # a command's own process sets its own flags; bnbench imports no torch for it
        from bnbench.backend import math_mode

        info["math_mode"] = {  # every torch flag that changes results or speed, as each variant's runs set it
            v.name: {**math_mode(v.train).to_dict(), "threads": run_on.threads(v.train)} for v in scenario.variants}
    if resuming:
        info = reopen(out, scenario, info, changes, plans)
        store = RunStore(out)
    else:
        store = RunStore.create(out, scenario.to_dict(), info, run_columns(metric, references),
                                discard=("power",) if scratch else ())

    say(console, header)
    if (threads := thread_warning(scenario, run_on.threads)) is not None:
        say(console, threads)
    if resuming:
        counts = {a: sum(p.action == a for p in plans) for a in ("skip", "resume", "start")}
        say(console, f"resuming: {counts['skip']} finished, {counts['resume']} continue from a checkpoint, "
                     f"{counts['start']} start from step 0")
        for change in changes:
            say(console, f"  changed: {change}")
    resume_hint = f"; resume with --resume {out}" if resumable else ""
    stop = threading.Event()
    with stop_on_signals(stop) as received:  # from the idle baseline on: a signal there must save too
        # Before the first run; runs read it back. A Ray cluster meters each node's own.
        measure_idle = getattr(run_on.run, "idle_baseline", functools.partial(idle_baseline, device_list, stop=stop))
        run_on.ready()  # the pool's workers started and quiet: they must not count as idle power
        info.update(measure_idle(scenario.energy, console))
        store.write_manifest(info)
        if stop.is_set():
            say(console, "interrupted during the idle baseline: nothing trained yet" + resume_hint)
            return Session(EXIT_SIGTERM if received.get("signal") == signal.SIGTERM else EXIT_SIGINT, out, [])
        progress = progress or make_progress(specs, metric, console)
        try:
            if scenario.scenario.adaptive:
                from bnbench.commands.rounds import run_rounds

                rows = run_rounds(scenario, specs, run_on.run, device_list, store, progress, stop,
                                  lambda text: say(console, text))
            else:
                rows = run_on.run(queue, device_list, store, progress, stop)
        except KeyboardInterrupt:  # a second Ctrl-C: leave now; each run resumes from its last checkpoint
            say(console, "interrupted twice: stopped at once" + resume_hint)
            return Session(EXIT_SIGINT, out, [])
        finally:
            progress.close()
            info.update(run_on.entries())  # what a cluster's jobs measured there
            info["ended_at"] = manifest.now_iso()
            if info.get("resumes"):
                info["resumes"][-1]["ended_at"] = info["ended_at"]
            try:
                store.write_manifest(info)
            except OSError as exc:  # the error that stopped the runs says more; the old manifest is intact
                say(console, f"could not update {out / 'manifest.json'}: {exc.strerror or exc}")
    if "signal" in received:  # exit within seconds (a scheduler's grace period); the report can wait
        say(console, f"interrupted: state saved; resume with --resume {out}, or `bnbench report {out}` for what is "
                     "done" if resumable else "interrupted")
        return Session(EXIT_SIGTERM if received["signal"] == signal.SIGTERM else EXIT_SIGINT, out, rows)
    if report and report_after_run(out, console) == "interrupted":
        return Session(EXIT_SIGINT, out, rows)
    export_after_run(scenario, out, lambda text: say(console, text))  # a failure is a line; the folder is whole
    if report:
        say(console, f"results: {out}")
    # Runs no worker took (every slot's worker died or never started) are neither failed nor done: say so.
    done = {r["run_id"] for r in rows}
    undone = [] if adaptive else [s.run_id for s in queue if s.run_id not in done]
    if undone:
        say(console, f"{plural(len(undone), 'run')} not trained, no worker being left to take them "
                     f"({', '.join(undone[:4])}{', ...' if len(undone) > 4 else ''}); resume with --resume {out}")
    # Interrupted though this session was not (a cluster's job cancelled, or out of requeues): not done either.
    stopped = [r["run_id"] for r in rows if r["status"] == "interrupted"]
    if stopped:
        say(console, f"{plural(len(stopped), 'run')} stopped from outside this session ({', '.join(stopped[:4])}"
                     f"{', ...' if len(stopped) > 4 else ''}): each saved a checkpoint; resume with --resume {out}")
    failed = undone or stopped or any(r["status"] == "failed" for r in rows)
    return Session(EXIT_RUN_FAILED if failed else EXIT_OK, out, rows)
