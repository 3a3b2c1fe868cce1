"""Concurrent runs of a pool share the host package: each is charged its CPU-time share of RAPL's joules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnbench.energy import devices, shared_host
from bnbench.energy.shared_host import Peers, SharedHostSource

from .test_rapl import powercap  # noqa: F401  (fixture)


class Script:
    """A reader that returns the next scripted value on each call."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


class Counter:
    name = "rapl"

    def __init__(self, *joules: float) -> None:
        self.energy_j = Script(*joules)

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        pass


def test_package_split_by_cpu_seconds() -> None:
    source = SharedHostSource(
        Counter(0.0, 100.0, 160.0, 170.0, 190.0),
        Peers(own_cpu_s=Script(0.0, 3.0, 3.0, 3.0, 5.0), all_cpu_s=Script(0.0, 4.0, 6.0, 6.0, 6.5)),
    )
    # 100 J while this run used 3 of the pool's 4 CPU seconds: 75 J.
    assert source.energy_j() == pytest.approx(75.0)
    # 60 J while only the other run worked: nothing more.
    assert source.energy_j() == pytest.approx(75.0)
    # 10 J with no CPU time anywhere: an equal split between this run and the others, +5 J.
    assert source.energy_j() == pytest.approx(80.0)
    # 20 J while this run's CPU seconds (2) exceed the pool's (0.5; a worker ended): all of it is this run's.
    assert source.energy_j() == pytest.approx(100.0)
    assert source.name == "rapl" and source.power_w() is None


def test_two_runs_shares_add_up_to_the_package() -> None:
    package = [0.0, 50.0, 130.0]
    a = SharedHostSource(Counter(*package), Peers(Script(0.0, 1.0, 4.0), Script(0.0, 2.0, 6.0)))
    b = SharedHostSource(Counter(*package), Peers(Script(0.0, 1.0, 2.0), Script(0.0, 2.0, 6.0)))
    for _ in range(2):
        a_j, b_j = a.energy_j(), b.energy_j()
    # 50 J split 1:1, then 80 J split 3:1: a = 25 + 60, b = 25 + 20; together the whole 130 J.
    assert (a_j, b_j) == (pytest.approx(85.0), pytest.approx(45.0))


def test_host_chain_wraps_rapl_only_in_a_shared_pool(powercap: Path) -> None:  # noqa: F811
    factory = dict(devices.host_chain(None, powercap))["rapl"]
    assert type(factory()).__name__ == "RaplSource"
    shared_host.share_host_with(Peers(own_cpu_s=lambda: 0.0, all_cpu_s=lambda: 0.0))
    try:
        assert isinstance(factory(), SharedHostSource)
    finally:
        shared_host.share_host_with(None)
