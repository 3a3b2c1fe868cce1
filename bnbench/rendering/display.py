"""What the terminal shows while runs train: a live rich table on a terminal, plain lines otherwise; both are
the executors' `Progress` (execute/progress.py)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from bnbench.execute.progress import Progress
from bnbench.rendering.format import significant
from bnbench.rendering.terminal import write_line
from bnbench.scenario import COMMAND, RunSpec

if TYPE_CHECKING:
    from bnbench.hooks import EvalLog, StepLog


@dataclass
class _RunState:
    spec: RunSpec
    device: str = ""
    status: str = "queued"
    step: int = 0
    loss: float | None = None
    metric: float | None = None
    power_w: float | None = None
    energy_wh: float | None = None
    started: float | None = None
    elapsed_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or value != value else format(value, fmt)


def _of_steps(spec: RunSpec) -> str:
    """'/300' for a built-in run of 300 steps; '' for a command's, whose step count bnbench does not know."""
    return "" if spec.task.name == COMMAND else f"/{spec.train.max_steps}"


def _float(value: Any) -> float | None:
    """A row's number, or None when it was not recorded (never 0)."""
    return None if value in (None, "") else float(value)


class RichProgress:
    """A live table, one row per run: step, loss, latest metric, watts, Wh so far, elapsed time.

    It fits the terminal: when the row is too wide, the columns that matter least go first (watts, loss, device),
    and what remains is never cut, so run ids, statuses and numbers are always shown whole."""

    OPTIONAL = ("W", "loss", "device")  # dropped in this order when the terminal is too narrow

    def __init__(self, specs: list[RunSpec], metric: str, console: Console | None = None) -> None:
        self.metric = metric
        self.runs = {s.run_id: _RunState(s) for s in specs}
        self.console = console or Console()
        self.live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def _rows(self) -> list[dict[str, str]]:
        rows = []
        for r in self.runs.values():
            elapsed = (time.monotonic() - r.started) if r.status == "running" and r.started else r.elapsed_s
            rows.append({
                "run": r.spec.run_id, "device": r.device, "status": r.status,
                "step": f"{r.step}{_of_steps(r.spec)}", "loss": _num(r.loss, ".4g"),
                self.metric: _num(r.metric, ".3f"), "W": _num(r.power_w, ".1f"),
                "Wh": "-" if r.energy_wh is None else significant(r.energy_wh),
                "elapsed": f"{elapsed:.1f}s" if r.started and elapsed is not None else "-",
            })
        return rows

    def _table(self) -> Table:
        rows = self._rows()
        columns = ["run", "device", "status", "step", "loss", self.metric, "W", "Wh", "elapsed"]

        def width(names: list[str]) -> int:  # each column's widest cell, and 3 spaces between two columns
            return sum(max(len(n), *(len(row[n]) for row in rows)) for n in names) + 3 * (len(names) - 1)

        for optional in self.OPTIONAL:
            if width(columns) <= self.console.width:
                break
            columns.remove(optional)
        table = Table(title="bnbench: training", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for name in columns:
            table.add_column(name, justify="left" if name in ("run", "device", "status") else "right",
                             no_wrap=True, overflow="fold")
        for row in rows:
            table.add_row(*(row[n] for n in columns))
        return table

    def _refresh(self) -> None:
        self.live.update(self._table())

    def started(self, spec: RunSpec, device: str) -> None:
        r = self.runs[spec.run_id]
        r.device, r.status, r.started = device, "running", time.monotonic()
        self._refresh()

    def logged(self, spec: RunSpec, log: StepLog, power_w: float | None, energy_wh: float | None) -> None:
        r = self.runs[spec.run_id]
        r.step, r.loss, r.power_w, r.energy_wh = log.step, log.loss, power_w, energy_wh
        self._refresh()

    def evaluated(self, spec: RunSpec, log: EvalLog) -> None:
        self.runs[spec.run_id].metric = log.metrics.get(self.metric)
        self._refresh()

    def finished(self, spec: RunSpec, row: dict[str, Any]) -> None:
        r = self.runs[spec.run_id]
        r.status, r.step = str(row.get("status")), int(row.get("steps") or r.step)
        r.elapsed_s = _float(row.get("wall_s"))
        if row.get("energy_j") not in (None, ""):
            r.energy_wh = float(row["energy_j"]) / 3600.0
        self._refresh()

    def close(self) -> None:
        self.live.stop()


class PlainProgress:
    """One line per run start, evaluation and end: for logs, CI and pipes."""

    def __init__(self, metric: str, stream: Any = None) -> None:
        self.metric = metric
        self.stream = stream or sys.stdout

    def _say(self, text: str) -> None:
        write_line(text, self.stream)  # a closed stdout stops these lines, never the runs

    def started(self, spec: RunSpec, device: str) -> None:
        self._say(f"[{spec.run_id}] started on {device}")

    def logged(self, spec: RunSpec, log: StepLog, power_w: float | None, energy_wh: float | None) -> None:
        pass

    def evaluated(self, spec: RunSpec, log: EvalLog) -> None:
        value = log.metrics.get(self.metric)
        self._say(f"[{spec.run_id}] step {log.step}{_of_steps(spec)} {self.metric} {_num(value, '.3f')} "
                  f"({log.t_s:.1f}s)")

    def finished(self, spec: RunSpec, row: dict[str, Any]) -> None:
        error = f": {row['error']}" if row.get("error") else ""
        wall_s = _float(row.get("wall_s"))
        wall = "wall time not recorded" if wall_s is None else f"{wall_s:.1f}s"
        self._say(f"[{spec.run_id}] {row.get('status')} after {row.get('steps')} steps, {wall}{error}")

    def close(self) -> None:
        pass


def make_progress(specs: list[RunSpec], metric: str, console: Console) -> Progress:
    return RichProgress(specs, metric, console) if console.is_terminal else PlainProgress(metric, console.file)
