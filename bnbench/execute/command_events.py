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
    """Turns stdout lines into events with `[task.parse]`'s `log` and `eval` expressions (searched anywhere in
    a line). Named groups are the figures; `step` is the step, or else the count of such lines so far."""

    def __init__(self, config: ParseConfig | None) -> None:
        self.log = re.compile(config.log) if config and config.log else None
        self.eval = re.compile(config.eval) if config and config.eval else None
        self.counts = {"log": 0, "eval": 0}
        self.unreadable = 0  # matches whose figures are not numbers

    def feed(self, line: str) -> list[Event]:
        events: list[Event] = []
        for kind, pattern in (("log", self.log), ("eval", self.eval)):
            match = pattern.search(line) if pattern else None
            if match is None:
                continue
            self.counts[kind] += 1
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                step = int(float(groups.pop("step"))) if "step" in groups else self.counts[kind]
                metrics = {k: float(v) for k, v in groups.items()}
            except ValueError:
                self.unreadable += 1
                continue
            events.append(Logged(step, metrics) if kind == "log" else Evaluated(step, metrics))
        return events

