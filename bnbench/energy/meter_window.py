"""A run's meter window, one line of its run.log: when its meter opened and last read its devices, and the joules
each device was charged over the whole window.

runs.csv cannot say this: its times are to the second, and its phase columns add the devices together. The line
lets a check outside the run compare the runs' shares of a shared GPU with the board's own counter over the same
seconds (benchmarks/gpu_sharing.py). Times are Unix seconds to the millisecond; the joules are every phase's
(setup and warm-up included) of this attempt only (a resumed run writes one line per attempt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PREFIX = "meter window: unix"


@dataclass(frozen=True)
class MeterWindow:
    """`opened_s`, `closed_s`: Unix seconds; `device_j`: joules by device key ('cuda:0', 'host'; NaN: unknown)."""

    opened_s: float
    closed_s: float
    device_j: dict[str, float]

    @property
    def gpu_j(self) -> float:
        """The joules of the window's GPUs (NaN when it had none, or one's is unknown)."""
        gpus = [j for key, j in self.device_j.items() if key.startswith("cuda")]
        return math.fsum(gpus) if gpus else math.nan


def window_line(window: MeterWindow) -> str:
    """'meter window: unix 1764858000.123 to 1764858012.456 s; cuda:0 1234.500 J, host 56.700 J'."""
    devices = ", ".join(f"{key} {joules:.3f} J" for key, joules in window.device_j.items())
    return f"{PREFIX} {window.opened_s:.3f} to {window.closed_s:.3f} s; {devices}"


def parse_window(line: str) -> MeterWindow | None:
    """The window in a run.log line (its timestamp before it is ignored); None for any other line."""
    _, found, rest = line.partition(PREFIX)
    if not found:
        return None
    times, _, devices = rest.partition(";")
    opened, _, closed = times.strip().removesuffix(" s").partition(" to ")
    device_j = {}
    for item in devices.split(","):
        if item.strip():
            key, _, joules = item.strip().removesuffix(" J").rpartition(" ")
            device_j[key] = float(joules)
    return MeterWindow(float(opened), float(closed), device_j)
