"""A run that is the user's own command (`[task] name = "command"`): the trainer the run driver calls instead of
`bnbench.train.train` for such a run.

The command starts in a process group of its own (bnbench.execute.process_group), with its placeholders filled
in, in `[task] workdir`, and with the run's GPUs alone in CUDA_VISIBLE_DEVICES (none on the CPU). What it
reports becomes the same hook calls a built-in run makes: reporter lines (bnbench.reporter) arrive through a
named pipe given in BNBENCH_REPORT, stdout lines are matched by `[task.parse]`, and both turn into curve rows,
evaluations and phase windows. The whole command is the run's 'train' window; the reporter's 'eval' and
'checkpoint' blocks are windows inside it. A stop request (SIGINT/SIGTERM to bnbench) or the wall-clock budget
sends SIGTERM to the group, and SIGKILL after `[task] grace_s` seconds.

Its stdout and stderr are kept in runs/RUN_ID/stdout.log and stderr.log (and shown as they come with
`[task] echo`). A command has no checkpoint bnbench can restore: an unfinished one starts over on --resume.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import queue
import select
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from bnbench.energy.gpu_memory import PeakGpuMemory
from bnbench.errors import UserError
from bnbench.execute.command_events import Evaluated, Event, Logged, PhaseEdge, StdoutParser, parse_report_line
from bnbench.execute.process_group import ProcessGroup
from bnbench.execute.runlog import ReportedFailure, tail_text
from bnbench.hooks import INTERRUPTED, EvalLog, Hooks, Outcome, StepLog
from bnbench.reporter import ENV as REPORT_ENV
from bnbench.results.manifest import now_iso
from bnbench.scenario import RunSpec, TaskConfig

STDERR_TAIL_LINES = 5
_POLL_S = 0.02  # how soon the end of a command is seen (and a stop request acted on)


class CommandFailed(ReportedFailure):
    """The command failed (would not start, exited non-zero, reported no metric): `details` is its stderr."""


def command_argv(spec: RunSpec, folder: Path) -> list[str]:
    """The run's command with {seed}, {run_id}, {run_dir} (the run's folder) and {variant} filled in."""
    assert spec.task.command is not None
    values = {"seed": spec.seed, "run_id": spec.run_id, "run_dir": str(folder.resolve()), "variant": spec.variant}
    return [arg.format(**values) for arg in spec.task.command]


def visible_gpus(devices: Sequence[str]) -> str:
    """CUDA_VISIBLE_DEVICES for a command on `devices` ('cuda:N' as this process sees them; '' on the CPU):
    the entries of this process's own CUDA_VISIBLE_DEVICES where it has one (a pool slot's, Ray's), else the
    GPUs' UUIDs, so the command sees exactly the run's GPUs."""
    from bnbench.energy.identity import torch_uuid

    indices = [int(d.partition(":")[2] or 0) for d in devices if d.startswith("cuda")]
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        entries = [v.strip() for v in listed.split(",")]
        return ",".join(entries[i] for i in indices)
    return ",".join(torch_uuid(i) or str(i) for i in indices)


def check_command(task: TaskConfig, where: str) -> None:
    """UserError when the command's program cannot be found or its workdir is missing (before any run)."""
    assert task.command is not None
    workdir = Path(task.workdir)
    if not workdir.is_dir():
        raise UserError(f"{where}: workdir {workdir} is not a folder")
    program = task.command[0]
    if "{" in program:
        return  # filled in per run; a failure to start fails that run
    if os.sep in program:
        path = workdir / program
        if not path.is_file() or not os.access(path, os.X_OK):
            raise UserError(f"{where}: command '{program}': no executable file {path}")
    elif shutil.which(program) is None:
        raise UserError(f"{where}: command '{program}' not found on PATH")


class _ReportPipe:
    """The named pipe a command's reporter writes to. bnbench holds a writing end too, so the pipe never reads
    as closed while a reporter opens and closes it; it is read until the command's group has ended."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path, 0o600)
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.keep = os.open(path, os.O_WRONLY)
        self.partial = b""

    def read_lines(self, timeout_s: float) -> list[bytes]:
        """Complete lines written so far, waiting up to `timeout_s` for some."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return []
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.fd, 65536):
                data += chunk
        *lines, self.partial = (self.partial + data).split(b"\n")
        return lines

    def close(self) -> list[bytes]:
        """The last lines (a final one without a newline included); closes both ends."""
        lines = self.read_lines(0)
        if self.partial.strip():
            lines.append(self.partial)
        os.close(self.keep)
        os.close(self.fd)
        return lines


MAX_LINE_BYTES = 1 << 20
"""A longer output line is cut to this for `[task.parse]` and the stderr tail (its log keeps it whole), so a
command that prints hundreds of megabytes without a newline does not hold them in memory."""
_CHUNK_BYTES = 1 << 16


def _put_all(events: queue.Queue[Event], found: list[Event]) -> None:
    for event in found:
        events.put(event)


class _Output:
    """One output stream of the command, read in chunks as they come: copied to a log file (and to the terminal
    with echo), and cut into lines for `on_line` and the tail. A terminal that stops reading (`| head -1`) stops
    the echo, never the reading: a command blocked on a full pipe would never end."""

    def __init__(self, stream: IO[bytes], log: IO[bytes], echo: IO[bytes] | None,
                 on_line: Callable[[str], None] | None = None, tail: int = 0) -> None:
        self.stream, self.log, self.echo, self.on_line = stream, log, echo, on_line
        self.tail: collections.deque[str] = collections.deque(maxlen=tail)
        self.lines = on_line is not None or tail > 0  # whether anything needs the stream cut into lines
        self.thread = threading.Thread(target=self._pump, name="bnbench-command-output", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        fd = self.stream.fileno()
        partial, cut = b"", False  # the line so far (at most MAX_LINE_BYTES), and whether its rest is dropped
        while chunk := os.read(fd, _CHUNK_BYTES):
            self.log.write(chunk)
            self.log.flush()
            self._echo(chunk)
            if not self.lines:
                continue
            if cut:
                newline = chunk.find(b"\n")
                if newline < 0:
                    continue
                self._line(partial)
                partial, cut, chunk = b"", False, chunk[newline + 1:]
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                self._line(line[:MAX_LINE_BYTES])
            if len(partial) > MAX_LINE_BYTES:
                partial, cut = partial[:MAX_LINE_BYTES], True
        if partial and self.lines:
            self._line(partial)

    def _echo(self, chunk: bytes) -> None:
        if self.echo is None:
            return
        try:
            self.echo.write(chunk)
            self.echo.flush()
        except (BrokenPipeError, ValueError):
            from bnbench.stdout import stdout_closed

            if self.echo is getattr(sys.stdout, "buffer", None):
                stdout_closed()
            self.echo = None

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.tail.append(line)
        if self.on_line is not None:
            self.on_line(line)

    def join(self, timeout_s: float = 5.0) -> None:
        """Wait for the stream's end (a process that left the group may hold it open: then give up waiting)."""
        self.thread.join(timeout_s)


def run_command(spec: RunSpec, hooks: Hooks, devices: Sequence[str], folder: Path,
                note: Callable[[str], None] = lambda line: None, gpu_memory: PeakGpuMemory | None = None) -> Outcome:
    """Run the command of `spec` to its end, its wall-clock budget or a stop request, turning what it reports
    into `hooks` calls. `folder` is the run's folder ({run_dir}, its output logs); `note` takes run.log lines;
    `gpu_memory` (on a GPU) is sampled with the group's processes while it runs.

    Returns the Outcome ('completed', or 'interrupted' on a stop request). Raises CommandFailed when it cannot
    start, exits non-zero, or ends without reporting the task's metric.
    """
    task = spec.task
    argv = command_argv(spec, folder)
    folder.mkdir(parents=True, exist_ok=True)
    events: queue.Queue[Event] = queue.Queue()
    parser = StdoutParser(task.parse)
    malformed: list[str] = []
    outcome = Outcome(status="completed", steps=0, train_s=0.0)
    start, ended, children_start_s = time.perf_counter(), math.nan, _children_cpu_s()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bnbench-report-")))
        pipe = _ReportPipe(tmp / "report.jsonl")
        stdout_log = stack.enter_context(open(folder / "stdout.log", "ab"))
        stderr_log = stack.enter_context(open(folder / "stderr.log", "ab"))
        header = f"=== {now_iso()} {spec.run_id}: {' '.join(argv)}\n".encode()
        stdout_log.write(header)
        stderr_log.write(header)
        env = {**os.environ, REPORT_ENV: str(pipe.path), "CUDA_VISIBLE_DEVICES": visible_gpus(devices),
               "PYTHONUNBUFFERED": "1", "BNBENCH_RUN_ID": spec.run_id, "BNBENCH_SEED": str(spec.seed)}
        with hooks.phase("train"):
            windows = _Windows(hooks, malformed)
            start = time.perf_counter()  # the command's wall time is from its start to its group's end
            try:
                group = ProcessGroup(argv, Path(task.workdir), env, stdout=-1, stderr=-1)
            except OSError as exc:
                pipe.close()
                raise CommandFailed(f"cannot start '{argv[0]}': {exc.strerror or exc}") from None
            note(f"command started (pid {group.pid}): {' '.join(argv)}")
            assert group.process.stdout is not None and group.process.stderr is not None
            parse = parser.preset is not None or parser.log is not None or parser.eval is not None
            out = _Output(group.process.stdout, stdout_log, sys.stdout.buffer if task.echo else None,
                          (lambda line: _put_all(events, parser.feed(line))) if parse else None)
            err = _Output(group.process.stderr, stderr_log, sys.stderr.buffer if task.echo else None,
                          tail=STDERR_TAIL_LINES)
            apply = _Applier(spec, hooks, outcome, windows, start)
            stopped = False
            try:
                while True:
                    for line in pipe.read_lines(_POLL_S):
                        _report(line, events, malformed)
                    while not events.empty():
                        apply(events.get())
                    if not group.alive():
                        ended = time.perf_counter()
                        break
                    if gpu_memory is not None:
                        gpu_memory.sample(group.pids())
                    reason = outcome.stop_reason or _stop_reason(hooks, start, spec.train.max_wall_s)
                    if reason and not stopped:
                        stopped, outcome.stop_reason = True, reason
                        note(f"stopping the command ({reason}): SIGTERM, SIGKILL after {task.grace_s:g} s")
                        group.stop(task.grace_s)
            finally:
                if group.alive():  # an error here: the command must not outlive its run
                    group.stop(0)
                out.join()
                err.join()
                for event in parser.flush():
                    events.put(event)
                for line in pipe.close():
                    _report(line, events, malformed)
                while not events.empty():
                    apply(events.get())
                windows.close_all()
    outcome.train_s = ended - start
    outcome.gpu_mem_peak_mib = gpu_memory.peak_mib if gpu_memory is not None else None
    # Every process of the group has been waited for (here, or by a parent of its own in the group): their CPU
    # seconds are now this process's children's.
    outcome.cpu_s = _children_cpu_s() - children_start_s
    code = group.leader_exit_code()
    if malformed:
        note(f"skipped {len(malformed)} malformed reporter line(s); the first: {malformed[0]}")
        from bnbench.energy.meter import warn_once

        warn_once(f"{spec.run_id}: skipped {len(malformed)} malformed reporter line(s); the first: {malformed[0]}")
    if group.killed:
        note(f"the command did not end within {task.grace_s:g} s of SIGTERM: killed")
    if outcome.stop_reason == INTERRUPTED:
        outcome.status = "interrupted"
        return outcome
    measured = {"steps": outcome.steps, "train_s": outcome.train_s, "cpu_s": outcome.cpu_s,
                "gpu_mem_peak_mib": outcome.gpu_mem_peak_mib}
    stderr_text = (folder / "stderr.log").read_text(encoding="utf-8", errors="replace").split(header.decode())[-1]
    if code != 0 and not outcome.stop_reason:
        said = _exit_text(code)
        tail = tail_text(list(err.tail), 500 - len(said) - 2)
        raise CommandFailed(f"{said}: {tail}" if tail else f"{said} (nothing on stderr)", stderr_text, measured)
    if not outcome.evals and task.metric_required and outcome.status != "diverged":
        raise CommandFailed(
            f"the command reported no '{task.metric}' (Reporter.evaluate(step, {task.metric}=...) or a "
            f"[task.parse] eval expression with (?P<{task.metric}>...)); {_exit_text(code)}", stderr_text, measured)
    return outcome


def command_gpu_memory(meter: Any, sample_hz: float) -> PeakGpuMemory | None:
    """A watch of the command's GPU memory on the run's metered GPUs; None on the CPU or without NVML."""
    from bnbench.energy import nvml
    from bnbench.energy.source import SourceError

    handles = [part.gpu.handle for part in meter.parts if part.gpu is not None]
    if not handles:
        return None
    try:
        api = nvml.load_nvml()
    except SourceError:
        return None
    return PeakGpuMemory(api, handles, period_s=1.0 / sample_hz)


def _children_cpu_s() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _report(line: bytes, events: queue.Queue[Event], malformed: list[str]) -> None:
    text = line.decode("utf-8", errors="replace").strip()
    if not text:
        return
    try:
        events.put(parse_report_line(text))
    except ValueError as exc:
        malformed.append(f"{text[:80]!r}: {exc}")


def _stop_reason(hooks: Hooks, start: float, max_wall_s: float | None) -> str:
    if hooks.should_stop():
        return INTERRUPTED
    if max_wall_s is not None and time.perf_counter() - start >= max_wall_s:
        return f"wall-clock budget of {max_wall_s:g} s reached"
    return ""


class _Windows:
    """The reporter's phase windows, opened and closed through the hooks; a close that does not match the
    innermost open window is a malformed report, skipped."""

    def __init__(self, hooks: Hooks, malformed: list[str]) -> None:
        self.hooks, self.malformed = hooks, malformed
        self.open: list[tuple[str, contextlib.AbstractContextManager[None]]] = []

    def edge(self, event: PhaseEdge) -> None:
        if event.opened:
            window = self.hooks.phase(event.phase)
            window.__enter__()
            self.open.append((event.phase, window))
        elif self.open and self.open[-1][0] == event.phase:
            self.open.pop()[1].__exit__(None, None, None)
        else:
            self.malformed.append(f"closing phase '{event.phase}' that is not open")

    def close_all(self) -> None:
        while self.open:
            self.open.pop()[1].__exit__(None, None, None)


class _Applier:
    """Applies events to the hooks in arrival order, timing them from the run's start."""

    def __init__(self, spec: RunSpec, hooks: Hooks, outcome: Outcome, windows: _Windows, start: float) -> None:
        self.spec, self.hooks, self.outcome, self.windows, self.start = spec, hooks, outcome, windows, start

    def __call__(self, event: Event) -> None:
        t_s = time.perf_counter() - self.start
        if isinstance(event, PhaseEdge):
            self.windows.edge(event)
            return
        self.outcome.steps = max(self.outcome.steps, event.step)
        metric = self.spec.task.metric
        if isinstance(event, Logged):
            loss = event.metrics.get("loss", float("nan"))
            self.hooks.on_log(StepLog(event.step, t_s, loss, event.metrics.get("loss_max", loss)))
            if "loss" in event.metrics and not math.isfinite(loss):
                self._diverged(f"non-finite loss ({loss}) at step {event.step}")
        elif isinstance(event, Evaluated):
            log = EvalLog(event.step, t_s, event.metrics)
            self.hooks.on_eval(log)
            if metric in event.metrics and not math.isfinite(event.metrics[metric]):
                self._diverged(f"non-finite {metric} ({event.metrics[metric]}) at step {event.step}")
            elif metric in event.metrics and self.outcome.status != "diverged":
                self.outcome.evals.append(log)

    def _diverged(self, reason: str) -> None:
        """A non-finite loss or metric ends the run as `diverged`, as in a built-in run (the first reason kept);
        the run's loop then stops the command."""
        if self.outcome.status == "completed" and self.outcome.stop_reason != INTERRUPTED:
            self.outcome.status, self.outcome.stop_reason = "diverged", reason


def is_command(spec: RunSpec) -> bool:
    from bnbench.scenario import COMMAND

    return spec.task.name == COMMAND


def describe(spec: RunSpec) -> str:
    """The command of a run as a line, placeholders filled with the run's values ({run_dir} left as is)."""
    values: dict[str, Any] = {"seed": spec.seed, "run_id": spec.run_id, "run_dir": "{run_dir}",
                              "variant": spec.variant}
    return " ".join(arg.format(**values) for arg in spec.task.command or [])
