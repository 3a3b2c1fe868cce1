"""The fallback when no sensor can be read: an estimate from this process's CPU time.

Model: each busy core draws `w_per_core` watts, so energy = w_per_core x CPU seconds used by the process (and
its waited-for children). CPU time is a counter, so the estimate is exact for its model however short a window
is. It is a model, not a measurement: its label is always `estimate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bnbench.energy.source import ESTIMATE, SourceError

DEFAULT_W_PER_CORE = 10.0
"""Watts per busy core: a desktop CPU of 65-125 W TDP with 8-16 cores draws roughly 5-15 W per loaded core."""


def process_cpu_s(pid: int | None = None) -> Callable[[], float]:
    """A reader of CPU seconds (user + system, children included) of process `pid` (default: this one)."""
    if pid is None:
        return _own_cpu_s
    import psutil

    process = psutil.Process(pid)

    def read() -> float:
        try:
            times = process.cpu_times()
        except psutil.Error as exc:
            raise SourceError(f"estimate: cannot read CPU time of process {process.pid} ({exc})") from None
        return times.user + times.system + times.children_user + times.children_system

    return read


def _own_cpu_s() -> float:
    # One times(2) call (about 1 us) instead of parsing /proc/self/stat through psutil (about 40 us): the
    # sampler thread reads this at up to 100 Hz while the run trains.
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuEstimateSource:
    """`w_per_core` watts per busy core x the CPU seconds of a process: joules by a stated model."""

    name = ESTIMATE

    def __init__(self, w_per_core: float = DEFAULT_W_PER_CORE, cpu_s: Callable[[], float] | None = None) -> None:
        self.w_per_core = w_per_core
        self.cpu_s = cpu_s or process_cpu_s()
        self.origin_s = self.cpu_s()

    def energy_j(self) -> float:
        """Joules the model assigns to the CPU time used since the source opened."""
        return self.w_per_core * (self.cpu_s() - self.origin_s)

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        pass
