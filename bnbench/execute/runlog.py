"""A run's own log files, append-only across every attempt at the run.

`runs/RUN_ID/run.log`: one timestamped line per event (attempt started or resumed, checkpoint, evaluation,
the attempt's meter window (bnbench.energy.meter_window), end). `runs/RUN_ID/error.log`: for each failure, a
header (time, run, device, step reached, the error) and the full traceback. Both are only appended to, so a
resumed run keeps the story of the attempts before it.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path

from bnbench.results.atomic import append_line
from bnbench.results.manifest import now_iso


class ReportedFailure(Exception):
    """A run's failure whose message is the whole line for runs.csv, and whose `details` (a command's stderr,
    say) go to error.log instead of a traceback; `figures` are columns of its row it did measure."""

    def __init__(self, message: str, details: str = "", figures: dict[str, float | int | None] | None = None) -> None:
        super().__init__(message)
        self.details = details
        self.figures = figures or {}  # what the run did get to measure (runs.csv columns): steps, train_s, cpu_s


ERROR_CHARS = 500  # the most of an error runs.csv keeps


def last_frame(line: str) -> str:
    """What a terminal would show of `line`: a progress bar (tqdm and the like) redraws itself after each '\r',
    so the last non-blank '\r' frame is its state, e.g. '\r 10%|#  | 1/10\r 20%|## | 2/10' -> ' 20%|## | 2/10'."""
    frames = [frame for frame in line.rstrip("\r\n").split("\r") if frame.strip()]
    return frames[-1] if frames else ""


def tail_text(lines: list[str], limit: int = ERROR_CHARS) -> str:
    """The non-blank `lines`, each collapsed to its last frame, joined by ' | '; when longer than `limit` chars,
    the start is cut ('...' marks it), since a failure's meaning (the exception) is at the end."""
    text = " | ".join(kept for kept in (last_frame(line).strip() for line in lines) if kept)
    return text if len(text) <= limit else "..." + text[len(text) - limit + 3:]


def describe_error(exc: BaseException) -> str:
    """One line for runs.csv: the exception's type and first line, with what to do about running out of memory.
    Only '\n' ends a line: a '\r' (a progress bar's frame) in the message keeps its last frame instead."""
    first = last_frame(str(exc).strip().split("\n")[0])
    text = first[:ERROR_CHARS] if isinstance(exc, ReportedFailure) else f"{type(exc).__name__}: {first}"[:ERROR_CHARS]
    if is_out_of_memory(exc) and not isinstance(exc, ReportedFailure):
        text += " (out of memory: lower task.batch_size or run fewer runs per device)"
    return text


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's OutOfMemoryError (CUDA, MPS) and Python's MemoryError (host RAM)."""
    if "torch" not in sys.modules:  # nothing imported torch (a command's run): no torch error can have happened
        return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()
    import torch

    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class RunLog:
    """Append-only event and error logs of one run. Writing a log line never raises: a full disk is reported by
    the checkpoint or results write that needs the space, not by the log."""

    def __init__(self, folder: Path) -> None:
        self.events = folder / "run.log"
        self.errors = folder / "error.log"

    def _append(self, path: Path, text: str) -> None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            append_line(path, text)

    def event(self, message: str) -> None:
        self._append(self.events, f"{now_iso()} {message}\n")

    def failure(self, exc: BaseException, run_id: str, device: str, step: int | None) -> None:
        """The error line in run.log; the header and the whole traceback (with its causes) in error.log."""
        line = describe_error(exc)
        self.event(f"failed: {line}")
        reached = "unknown" if step is None else str(step)
        header = f"=== {now_iso()} run {run_id} on {device} failed after step {reached}\n{line}\n"
        if isinstance(exc, ReportedFailure):
            trace = exc.details if exc.details.endswith("\n") or not exc.details else exc.details + "\n"
        else:
            trace = "".join(traceback.format_exception(exc))
        self._append(self.errors, f"{header}{trace}\n")
