"""The fallback when no sensor can be read: an estimate from this process's CPU time.

Model: each busy core draws `w_per_core` watts, so energy = w_per_core x CPU seconds used by the process (and
its waited-for children). CPU time is a counter, so the estimate is exact for its model however short a window
is. It is a model, not a measurement: its label is always `estimate`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bnbench.energy.source import ESTIMATE, SourceError
from bnbench.units import DEFAULT_W_PER_CORE

TREE_REFRESH_S = 1.0
"""How often the list of a process's descendants is read again (CPU times are cumulative: a process found late
is counted in full from then on, and one that ended was counted by the parent that waited for it)."""


def process_cpu_s(pid: int | None = None, refresh_s: float = TREE_REFRESH_S, walk: bool = True,
                  own: bool = True) -> Callable[[], float]:
    """A reader of the CPU seconds (user + system) of process `pid` (default: this one) and its whole tree: the
    children it waited for, and those still running with theirs (a command's data-loader workers, torchrun's
    ranks), their list read again every `refresh_s` seconds (see `descendants` for `walk`). Never decreases: a
    child caught between ending and being waited for is counted again by its parent on a later read. Without
    `own` (this process only), the process's own seconds are left out: a command's run counts the command's
    processes, not bnbench watching them."""
    import psutil

    handle: list[Any] = []  # the psutil handle, made when first needed

    def process() -> Any:
        if not handle:
            handle.append(psutil.Process(pid))
        return handle[0]

    def root_s() -> float:
        if pid is None and not own:
            times = os.times()
            return times.children_user + times.children_system
        if pid is None:
            # One times(2) call (about 1 us) instead of parsing /proc/self/stat through psutil (about 40 us): the
            # sampler thread reads this at up to 100 Hz while the run trains.
            return _cpu_s(os.times())
        try:
            return _cpu_s(process().cpu_times())
        except psutil.Error as exc:
            raise SourceError(f"estimate: cannot read CPU time of process {pid} ({exc})") from None

    last = [0.0]
    tree: dict[str, Any] = {"at": -math.inf, "children": []}

    def read() -> float:
        total = root_s()
        now = time.monotonic()
        if now - tree["at"] >= refresh_s:
            tree["at"], tree["children"] = now, descendants(process(), walk)
        # The root first, then the children: a child waited for in between is missed once, never counted twice.
        for child in tree["children"]:
            try:
                total += _cpu_s(child.cpu_times())
            except psutil.Error:
                continue
        last[0] = max(last[0], total)
        return last[0]

    return read


def _cpu_s(times: Any) -> float:
    return times.user + times.system + times.children_user + times.children_system


def descendants(process: Any, walk: bool = True) -> list[Any]:
    """The live descendants of a psutil `process`: from /proc/PID/task/*/children where the kernel has it (a few
    reads), else, with `walk`, psutil's walk of the process table; without it, none (a tree's CPU time is then
    counted when its processes are waited for: the same total, later)."""
    import psutil

    found: list[Any] = []
    todo = [process.pid]
    try:
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").iterdir():
                for child in (task / "children").read_text().split():
                    todo.append(int(child))
                    with contextlib.suppress(psutil.Error):
                        found.append(psutil.Process(int(child)))
        return found
    except OSError:
        if not walk:
            return []
        try:
            return process.children(recursive=True)
        except psutil.Error:
            return []


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
