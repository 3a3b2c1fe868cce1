"""Peak GPU memory of a command's processes, from NVML's per-process figures, sampled.

NVML lists the processes that hold memory on a GPU with the bytes each holds (CUDA context and caching
allocator included: what `nvidia-smi` shows). bnbench sums, at each sample, what the command's processes hold
on the run's GPUs, and keeps the largest sum. Sampling can miss a spike shorter than its period. In a container
NVML may list host pids, which match none of the command's: the peak is then unknown (None), never 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

MIB = 1024 * 1024


def held_bytes(api: Any, handle: Any) -> dict[int, int]:
    """Bytes each process holds on the GPU `handle` (compute and graphics), by pid; a process whose figure NVML
    does not give (None, or NVML's 'not available' value) is left out."""
    held: dict[int, int] = {}
    for list_processes in (api.nvmlDeviceGetComputeRunningProcesses, api.nvmlDeviceGetGraphicsRunningProcesses):
        try:
            processes = list_processes(handle)
        except api.NVMLError:
            continue
        for p in processes:
            used = getattr(p, "usedGpuMemory", None)
            if isinstance(used, int) and 0 <= used < 2**63:
                held[int(p.pid)] = max(held.get(int(p.pid), 0), used)
    return held


class PeakGpuMemory:
    """The largest sum of GPU memory held by a set of processes on `handles`, over the samples taken.

    `sample(pids)` reads NVML at most once every `period_s` (it may be called more often); `peak_mib` is None
    until a sample found one of the processes on a GPU.
    """

    def __init__(self, api: Any, handles: Sequence[Any], period_s: float = 0.1,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.api, self.handles, self.period_s, self.clock = api, list(handles), period_s, clock
        self.last_s = -float("inf")
        self.peak_bytes: int | None = None

    def sample(self, pids: Collection[int]) -> None:
        now = self.clock()
        if now - self.last_s < self.period_s:
            return
        self.last_s = now
        wanted = set(pids)
        total, seen = 0, False
        for handle in self.handles:
            for pid, used in held_bytes(self.api, handle).items():
                if pid in wanted:
                    total, seen = total + used, True
        if seen:
            self.peak_bytes = max(self.peak_bytes or 0, total)

    @property
    def peak_mib(self) -> float | None:
        return None if self.peak_bytes is None else self.peak_bytes / MIB
