"""The host package and the GPUs shared with other processes: each run is charged its share, never the whole.

RAPL counts the whole package, whoever used it. Every run's host source is therefore wrapped: over every stretch
between two readings, this run's fraction of the package is its processes' CPU seconds over the busy CPU seconds
of the whole host (`/proc/stat`, through psutil: every process, this session's or another user's), so the parent
process and other jobs on the host are not charged to the run. It is charged that fraction of the stretch's
joules, and holds the host for that fraction of the stretch's seconds (`held_s`): its idle baseline is charged on
those seconds, so the runs' net energies add up to at most the package's net as their gross energies add up to at
most the package. The CPU seconds of other processes than the session's runs are kept (`others_s`), for the
share of the host other users had.

`Peers` says who this run is and who its session is; a process that trains runs sets it once
(`share_host_with`), before it opens meters: a pool worker, a Ray task, or `bnbench run` itself when it trains in
its own process. Meters opened while it is unset (the idle baseline) read the whole device.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from bnbench.energy.attribution import cpu_share
from bnbench.energy.source import EnergySource


def _no_pids() -> set[int]:
    return set()


@dataclass(frozen=True)
class Peers:
    """This run's CPU seconds, the CPU seconds of every run sharing the host (this one included), and how many
    runs share it (this one included; a stretch nobody used CPU in is split equally between them).

    `host_busy_s`: the host's busy CPU seconds, every process's (None: the runs' own sum is the denominator).
    `own_pids` and `session_pids`: this run's processes and those of every run of the session (trees included),
    for telling this session's processes on a GPU from other tenants; `quiet_pids`: the session's processes that
    train no run (the parent), which hold no share; `runs_per_gpu`: the session's runs on each GPU at once;
    `ledger_dir`: the folder of the session's GPU ledgers (bnbench.energy.gpu_ledger), for runs in several
    processes (None: this process's own, in memory).
    """

    own_cpu_s: Callable[[], float]
    all_cpu_s: Callable[[], float]
    runs: Callable[[], int]
    host_busy_s: Callable[[], float] | None = None
    own_pids: Callable[[], set[int]] = _no_pids
    session_pids: Callable[[], set[int]] = _no_pids
    quiet_pids: frozenset[int] = frozenset()
    runs_per_gpu: int = 1
    ledger_dir: str | None = None


_peers: Peers | None = None


QUIET_PIDS_ENV = "BNBENCH_QUIET_PIDS"


def caller_quiet_pids() -> frozenset[int]:
    """The pids in $BNBENCH_QUIET_PIDS (comma-separated): processes that started this session and may hold a GPU
    context while training nothing (`bnbench doctor`, after its own bench, running its end-to-end session). They
    hold no share of a GPU, as the session's parent holds none. Entries that are not whole numbers are ignored."""
    entries = os.environ.get(QUIET_PIDS_ENV, "").split(",")
    return frozenset(int(e) for e in (e.strip() for e in entries) if e.isdigit())


def share_host_with(peers: Peers | None) -> None:
    """Make host sources opened later in this process split the package with `peers` (None: no split)."""
    global _peers
    _peers = peers


def current_peers() -> Peers | None:
    return _peers


def host_busy_s() -> float:
    """The host's busy CPU seconds since boot, all cores and processes: /proc/stat's total less idle and I/O
    wait (guest time is already inside user time, so it is not added twice)."""
    import psutil

    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    return sum(times) - idle - guest


def tree_pids(pids: Callable[[], Iterable[int]]) -> Callable[[], set[int]]:
    """A reader of the pids `pids()` names and their live descendants (a command run's processes, say)."""

    def read() -> set[int]:
        import psutil

        from bnbench.energy.estimate import descendants

        found: set[int] = set()
        for pid in pids():
            found.add(pid)
            try:
                found.update(child.pid for child in descendants(psutil.Process(pid), walk=False))
            except psutil.Error:
                continue
        return found

    return read


def pool_cpu_s(pids: Callable[[], Iterable[int]]) -> Callable[[], float]:
    """A reader of the summed CPU seconds (user + system) of the processes `pids()` names and of their trees
    (the children they waited for, and those still running, such as a command run's processes): the pool's own
    workers, never a walk of the host's process table. Live children are found where the kernel lists them
    (bnbench.energy.estimate.descendants); elsewhere they count once waited for. A process that ended keeps
    the CPU seconds it had at its last reading, so the sum never goes back."""
    import psutil

    from bnbench.energy.estimate import process_cpu_s
    from bnbench.energy.source import SourceError

    readers: dict[int, Callable[[], float] | None] = {}
    last_s: dict[int, float] = {}

    def read() -> float:
        for pid in pids():
            if pid not in readers:
                try:
                    readers[pid] = process_cpu_s(pid, walk=False)
                except psutil.Error:
                    readers[pid] = None
            reader = readers[pid]
            if reader is None:
                continue
            try:
                last_s[pid] = reader()
            except SourceError:
                readers[pid] = None  # ended: its last reading stays in the sum
        return sum(last_s.values())

    return read


class SharedHostSource:
    """A host energy counter charged to this run by its CPU-time share of each stretch. Same label as `inner`.

    `held_s`: the seconds of the host charged to this run so far (its share of each stretch's seconds).
    `others_s` and `busy_s`: the CPU seconds of processes outside the session's runs, and the host's busy CPU
    seconds, over the stretches read (both 0 without a host-wide reading).
    """

    def __init__(self, inner: EnergySource, peers: Peers, clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner, self.peers, self.clock = inner, peers, clock
        self.name = inner.name
        self.last_total_j = cast(float, inner.energy_j())  # wrapped sources are counters (RAPL): never None
        self.last_own_s, self.last_all_s = peers.own_cpu_s(), peers.all_cpu_s()
        self.last_busy_s = peers.host_busy_s() if peers.host_busy_s else None
        self.last_t = clock()
        self.charged_j = 0.0
        self.held_s = 0.0
        self.others_s = 0.0
        self.busy_s = 0.0

    def energy_j(self) -> float:
        """Joules charged to this run since the source opened."""
        total_j, own_s, all_s, t = self.inner.energy_j(), self.peers.own_cpu_s(), self.peers.all_cpu_s(), self.clock()
        assert total_j is not None  # wrapped sources are counters (RAPL)
        own_delta = max(own_s - self.last_own_s, 0.0)
        session_delta = max(all_s - self.last_all_s, own_delta)
        others_delta = session_delta - own_delta
        if self.last_busy_s is not None:
            busy_s = self.peers.host_busy_s()  # type: ignore[misc]
            # Everyone's busy seconds: at least the session's (the two are read a moment apart).
            busy_delta = max(busy_s - self.last_busy_s, session_delta)
            self.others_s += busy_delta - session_delta
            self.busy_s += busy_delta
            others_delta = busy_delta - own_delta
            self.last_busy_s = busy_s
        share = cpu_share(own_delta, others_delta, self.peers.runs())
        self.charged_j += share * (total_j - self.last_total_j)
        self.held_s += share * (t - self.last_t)
        self.last_total_j, self.last_own_s, self.last_all_s, self.last_t = total_j, own_s, all_s, t
        return self.charged_j

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        self.inner.close()
