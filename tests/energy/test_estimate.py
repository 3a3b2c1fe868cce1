"""The CPU-time estimate reads this process's CPU time with one system call, not through /proc."""

from __future__ import annotations

import os

import psutil

from bnbench.energy import estimate
from bnbench.energy.estimate import CpuEstimateSource, process_cpu_s


class _NoCpuTimes:
    def cpu_times(self):
        raise AssertionError("psutil asked for this process's CPU time")


def test_own_cpu_time_comes_from_os_times(monkeypatch):
    # times(2) says 1 s user, 2 s system, 3 s and 4 s of waited-for children: 10 CPU seconds in all. psutil is
    # never asked (it would raise).
    times = iter([os.times_result((1.0, 2.0, 3.0, 4.0, 0.0)), os.times_result((1.5, 2.0, 3.0, 4.0, 0.0))])
    monkeypatch.setattr(estimate.os, "times", lambda: next(times))
    monkeypatch.setattr(psutil, "Process", lambda pid=None: _NoCpuTimes())
    monkeypatch.setattr(estimate, "descendants", lambda process, walk=True: [])  # no children in this test
    source = CpuEstimateSource(w_per_core=10.0)
    # 0.5 CPU seconds later at 10 W per busy core: 5 J.
    assert source.energy_j() == 5.0


def test_own_cpu_time_agrees_with_psutil(monkeypatch):
    # The same counters through two paths: equal to within the clock tick (10 ms) plus the time between reads.
    # Live children are left out: a test process may hold some from earlier tests (pytest-xdist's workers do).
    monkeypatch.setattr(estimate, "descendants", lambda process, walk=True: [])
    ours, theirs = process_cpu_s()(), process_cpu_s(os.getppid())  # the parent goes through psutil
    reference = psutil.Process().cpu_times()
    assert abs(ours - sum(reference[:4])) < 0.05
    assert theirs() >= 0.0
