"""The host package shared by concurrent runs: each run is charged its CPU-time share of RAPL's joules.

RAPL counts the whole package. When a pool trains several runs at once on one host, each worker reading RAPL
would be charged the whole package, and the runs' sum would count it once per worker. A worker in a pool of
more than one slot therefore wraps its host source: over every stretch between two readings, the package's
joules are split by `split_shared_energy_j` between this run's processes and the other workers of the pool,
weighted by the CPU seconds each used in that stretch. The shares of all concurrent runs add up to the package.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from bnbench.energy.attribution import split_shared_energy_j
from bnbench.energy.source import EnergySource


@dataclass(frozen=True)
class Peers:
    """This run's CPU seconds, and the CPU seconds of every run sharing the host (this one included)."""

    own_cpu_s: Callable[[], float]
    all_cpu_s: Callable[[], float]


_peers: Peers | None = None


def share_host_with(peers: Peers | None) -> None:
    """Make host sources opened later in this process split the package with `peers` (None: no split)."""
    global _peers
    _peers = peers


def current_peers() -> Peers | None:
    return _peers


def pool_cpu_s(parent_pid: int | None = None) -> Callable[[], float]:
    """A reader of the summed CPU seconds of every child process of the pool's parent (the pool's workers)."""
    import psutil

    parent = psutil.Process(parent_pid or os.getppid())

    def read() -> float:
        total = 0.0
        for child in parent.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.Error:
                continue  # a worker that ended: its CPU time leaves the sum, a stretch's delta is clamped at 0
            total += times.user + times.system
        return total

    return read


class SharedHostSource:
    """A host energy counter charged to this run by its CPU-time share of each stretch. Same label as `inner`."""

    def __init__(self, inner: EnergySource, peers: Peers) -> None:
        self.inner, self.peers = inner, peers
        self.name = inner.name
        self.last_total_j = inner.energy_j()
        self.last_own_s, self.last_all_s = peers.own_cpu_s(), peers.all_cpu_s()
        self.charged_j = 0.0

    def energy_j(self) -> float:
        """Joules charged to this run since the source opened."""
        total_j, own_s, all_s = self.inner.energy_j(), self.peers.own_cpu_s(), self.peers.all_cpu_s()
        assert total_j is not None  # wrapped sources are counters (RAPL)
        own_delta = max(own_s - self.last_own_s, 0.0)
        others_delta = max((all_s - self.last_all_s) - own_delta, 0.0)
        share = split_shared_energy_j(total_j - self.last_total_j, {"own": own_delta, "others": others_delta})
        self.charged_j += share["own"]
        self.last_total_j, self.last_own_s, self.last_all_s = total_j, own_s, all_s
        return self.charged_j

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        self.inner.close()
