"""What a command reports, as events: its reporter's JSON lines (bnbench.reporter) and lines of its stdout
matched by `[task.parse]` regular expressions. Pure functions of the text; the run driver applies the events.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bnbench.reporter import PHASES
from bnbench.scenario import ParseConfig


@dataclass(frozen=True)
class Logged:
    """Training figures after `step` steps (the curve keeps `loss`)."""

    step: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class Evaluated:
    """An evaluation after `step` steps."""

    step: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class PhaseEdge:
    """An 'eval' or 'checkpoint' window opening (`opened`) or closing."""

    phase: str
    opened: bool


Event = Logged | Evaluated | PhaseEdge


def _metrics(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError("'metrics' must be an object of numbers")
    out = {}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"metric '{key}' is not a number ({number!r})")
        out[str(key)] = float(number)
    return out


def _step(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"'step' must be a whole number >= 0 (got {value!r})")
    return value


def parse_report_line(line: str) -> Event:
    """The event of one reporter line. ValueError (one line, saying what is wrong) for a malformed one."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    kind = data.get("event")
    if kind == "log":
        return Logged(_step(data.get("step")), _metrics(data.get("metrics", {})))
    if kind == "eval":
        return Evaluated(_step(data.get("step")), _metrics(data.get("metrics", {})))
    if kind == "phase":
        phase, edge = data.get("phase"), data.get("edge")
        if phase not in PHASES or edge not in ("open", "close"):
            raise ValueError(f"phase must be one of {', '.join(PHASES)} and edge open or close (got {phase!r}, "
                             f"{edge!r})")
        return PhaseEdge(str(phase), edge == "open")
    raise ValueError(f"unknown event {kind!r} (events: log, eval, phase)")


class StdoutParser:
    """Turns stdout lines into events with `[task.parse]`'s `preset` (parse_presets.py), or its `log` and `eval`
    expressions (searched anywhere in a line). Named groups are the figures, and the step:

    - a `step` group holding a whole number is the step;
    - otherwise (no `step` group, or a fractional one such as the Trainer's epoch 0.25) train and eval points share
      one axis, the count of `log` lines so far: a log line is the next point, an evaluation sits at the count
      before it (with no `log` expression, the count of `eval` lines). A fractional `step` becomes the event's
      figure `epoch` (curves.parquet keeps the loss, the metric and val_loss only).
    """

    def __init__(self, config: ParseConfig | None) -> None:
        from bnbench.execute.parse_presets import preset

        self.preset = preset(config.preset) if config and config.preset else None
        self.log = re.compile(config.log) if config and config.log else None
        self.eval = re.compile(config.eval) if config and config.eval else None
        self.counts = {"log": 0, "eval": 0}
        self.unreadable = 0  # matches whose figures are not numbers

    def feed(self, line: str) -> list[Event]:
        if self.preset is not None:
            return self.preset.feed(line)
        events: list[Event] = []
        for kind, pattern in (("log", self.log), ("eval", self.eval)):
            match = pattern.search(line) if pattern else None
            if match is None:
                continue
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                metrics = {k: float(v) for k, v in groups.items()}
            except ValueError:
                self.unreadable += 1
                continue
            self.counts[kind] += 1
            step = metrics.pop("step", None)
            if step is not None and not step.is_integer():
                metrics.setdefault("epoch", step)
                step = None
            if step is None:
                step = self.counts[kind] if kind == "log" or self.log is None else self.counts["log"]
            events.append(Logged(int(step), metrics) if kind == "log" else Evaluated(int(step), metrics))
        return events

    def flush(self) -> list[Event]:
        """What a preset still holds when the output ends (the last frame of a progress bar)."""
        return self.preset.flush() if self.preset is not None else []

