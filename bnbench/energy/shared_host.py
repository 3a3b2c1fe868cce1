"""The host package shared by concurrent runs: each run is charged its CPU-time share of RAPL's joules.

RAPL counts the whole package. When a pool trains several runs at once on one host, each worker reading RAPL
would be charged the whole package, and the runs' sum would count it once per worker. A worker in a pool of
more than one slot (or a Ray task, beside the other tasks of its node) therefore wraps its host source: over
every stretch between two readings, this run's fraction of the package is its processes' CPU seconds over those
of every run sharing the host (`cpu_share`). It is charged that fraction of the stretch's joules, and holds the
host for that fraction of the stretch's seconds (`held_s`): its idle baseline is charged on those seconds, so
the runs' net energies add up to the package's net as their gross energies add up to the package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bnbench.energy.attribution import cpu_share
from bnbench.energy.source import EnergySource


@dataclass(frozen=True)
class Peers:
    """This run's CPU seconds, the CPU seconds of every run sharing the host (this one included), and how many
    runs share it (this one included; a stretch nobody used CPU in is split equally between them)."""

    own_cpu_s: Callable[[], float]
    all_cpu_s: Callable[[], float]
    runs: Callable[[], int]


_peers: Peers | None = None


def share_host_with(peers: Peers | None) -> None:
    """Make host sources opened later in this process split the package with `peers` (None: no split)."""
    global _peers
    _peers = peers


def current_peers() -> Peers | None:
    return _peers


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
    """

    def __init__(self, inner: EnergySource, peers: Peers, clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner, self.peers, self.clock = inner, peers, clock
        self.name = inner.name
        self.last_total_j = inner.energy_j()
        self.last_own_s, self.last_all_s = peers.own_cpu_s(), peers.all_cpu_s()
        self.last_t = clock()
        self.charged_j = 0.0
        self.held_s = 0.0

    def energy_j(self) -> float:
        """Joules charged to this run since the source opened."""
        total_j, own_s, all_s, t = self.inner.energy_j(), self.peers.own_cpu_s(), self.peers.all_cpu_s(), self.clock()
        assert total_j is not None  # wrapped sources are counters (RAPL)
        own_delta = max(own_s - self.last_own_s, 0.0)
        others_delta = max((all_s - self.last_all_s) - own_delta, 0.0)
        share = cpu_share(own_delta, others_delta, self.peers.runs())
        self.charged_j += share * (total_j - self.last_total_j)
        self.held_s += share * (t - self.last_t)
        self.last_total_j, self.last_own_s, self.last_all_s, self.last_t = total_j, own_s, all_s, t
        return self.charged_j

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        self.inner.close()
