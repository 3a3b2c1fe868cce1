"""Concurrent runs of a pool share the host package: each is charged its CPU-time share of RAPL's joules."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil
import pytest

from bnbench.energy import devices, shared_host
from bnbench.energy.meter import DeviceMeter
from bnbench.energy.run_meter import RunMeter
from bnbench.energy.shared_host import Peers, SharedHostSource

from .fakes import FakeClock, FakeProcess
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


class SteadyPackage:
    """A RAPL package drawing a steady `watts`."""

    name = "rapl"

    def __init__(self, clock: FakeClock, watts: float) -> None:
        self.clock, self.watts = clock, watts

    def energy_j(self) -> float:
        return self.watts * self.clock()

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        pass


def test_package_split_by_cpu_seconds() -> None:
    source = SharedHostSource(
        Counter(0.0, 100.0, 160.0, 170.0, 190.0),
        Peers(own_cpu_s=Script(0.0, 3.0, 3.0, 3.0, 5.0), all_cpu_s=Script(0.0, 4.0, 6.0, 6.0, 6.5), runs=lambda: 2),
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
    a = SharedHostSource(Counter(*package), Peers(Script(0.0, 1.0, 4.0), Script(0.0, 2.0, 6.0), lambda: 2))
    b = SharedHostSource(Counter(*package), Peers(Script(0.0, 1.0, 2.0), Script(0.0, 2.0, 6.0), lambda: 2))
    for _ in range(2):
        a_j, b_j = a.energy_j(), b.energy_j()
    # 50 J split 1:1, then 80 J split 3:1: a = 25 + 60, b = 25 + 20; together the whole 130 J.
    assert (a_j, b_j) == (pytest.approx(85.0), pytest.approx(45.0))


def test_host_chain_wraps_rapl_only_in_a_shared_pool(powercap: Path) -> None:  # noqa: F811
    factory = dict(devices.host_chain(None, powercap))["rapl"]
    assert type(factory()).__name__ == "RaplSource"
    shared_host.share_host_with(Peers(own_cpu_s=lambda: 0.0, all_cpu_s=lambda: 0.0, runs=lambda: 2))
    try:
        assert isinstance(factory(), SharedHostSource)
    finally:
        shared_host.share_host_with(None)


def test_eight_workers_net_host_energies_add_up_to_the_package_net() -> None:
    clock = FakeClock(0.0)
    # Eight workers train at once; four use 2 CPU seconds per second, four use 4: 24 CPU seconds per second.
    rates = [2.0] * 4 + [4.0] * 4
    package = SteadyPackage(clock, 120.0)  # one package for all
    meters = []
    for rate in rates:
        peers = Peers(own_cpu_s=lambda r=rate: r * clock(), all_cpu_s=lambda: 24.0 * clock(), runs=lambda: 8)
        host = DeviceMeter("cpu", [("rapl", lambda p=peers: SharedHostSource(package, p, clock))], clock=clock)
        meters.append(RunMeter([host], idle_w={"cpu": 60.0}, clock=clock))  # the package idles at 60 W
    for meter in meters:
        meter.open("train")
    clock.advance(10.0)
    for meter in meters:
        meter.close("train")
    results = [meter.result() for meter in meters]
    # 10 s: the package drew 1200 J, 600 J of it idle, so its net is 600 J. A 2-CPU-second worker holds 2/24 of
    # the package: 100 J, and 1/12 of the idle 600 J (50 J): net 50 J. A 4-CPU-second one: 200 - 100 = 100 J.
    assert [r.energy_j for r in results] == pytest.approx([100.0] * 4 + [200.0] * 4)
    assert [r.net_j for r in results] == pytest.approx([50.0] * 4 + [100.0] * 4)
    assert sum(r.net_j for r in results) == pytest.approx(1200.0 - 60.0 * 10.0)
    assert sum(r.energy_j for r in results) == pytest.approx(1200.0)


def test_a_stretch_without_cpu_time_is_split_between_all_the_runs() -> None:
    clock = FakeClock(0.0)
    source = SharedHostSource(Counter(0.0, 80.0), Peers(lambda: 5.0, lambda: 9.0, runs=lambda: 8), clock)
    clock.advance(2.0)
    # Nobody used CPU time: 1/8 of the 80 J and of the 2 s, not half as between this run and "the others".
    assert source.energy_j() == pytest.approx(10.0)
    assert source.held_s == pytest.approx(0.25)


def test_a_pool_reading_costs_one_read_per_worker_on_a_crowded_host(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProcess.host = {pid: 1.0 for pid in range(1, 2001)}  # 2,000 processes, the pool's 8 workers among them
    workers = list(range(1000, 1008))
    monkeypatch.setattr(psutil, "Process", FakeProcess)
    read = shared_host.pool_cpu_s(lambda: workers)
    FakeProcess.reads = 0
    assert read() == pytest.approx(8.0)
    assert FakeProcess.reads == 8  # the pool's own pids, never the host's 2,000
    FakeProcess.host[1003] = 3.0
    del FakeProcess.host[1007]  # a worker ended: it keeps the CPU seconds it had
    assert read() == pytest.approx(10.0)
    assert FakeProcess.reads == 16


def test_ray_tasks_on_one_node_share_its_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              powercap: Path) -> None:  # noqa: F811
    import tempfile

    from bnbench.execute.node import share_node_host

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(psutil, "Process", FakeProcess)
    me = os.getpid()
    FakeProcess.host = {me: 3.0, 4242: 5.0}
    registry = tmp_path / "bnbench-session1"
    registry.mkdir()
    (registry / "4242").touch()  # another task of this session runs on this node
    with share_node_host("session1"):
        peers = shared_host.current_peers()
        assert peers is not None and peers.runs() == 2
        # This task's 3 CPU seconds of the node's 3 + 5.
        assert (peers.own_cpu_s(), peers.all_cpu_s()) == (3.0, 8.0)
        assert isinstance(dict(devices.host_chain(None, powercap))["rapl"](), SharedHostSource)
    assert shared_host.current_peers() is None  # the worker process may run another session's task next
    assert [p.name for p in registry.iterdir()] == ["4242"]  # the other task still runs: its folder stays
    (registry / "4242").unlink()
    with share_node_host("session1"):
        assert [p.name for p in registry.iterdir()] == [str(me)]
    assert not registry.exists()  # the last task to leave leaves nothing behind in the node's temp folder


def test_held_seconds_survive_a_resume() -> None:
    clock = FakeClock(0.0)

    def meter(start_from: dict | None = None) -> RunMeter:
        # The package at 100 W; this run uses 1 of the host's 4 CPU seconds per second.
        peers = Peers(own_cpu_s=lambda: clock(), all_cpu_s=lambda: 4.0 * clock(), runs=lambda: 4)
        host = DeviceMeter("cpu", [("rapl", lambda: SharedHostSource(SteadyPackage(clock, 100.0), peers, clock))],
                           clock=clock)
        return RunMeter([host], idle_w={"cpu": 40.0}, start_from=start_from, clock=clock)

    first = meter()
    first.open("train")
    clock.advance(10.0)
    first.close("train")
    saved = json.loads(json.dumps(first.snapshot()))
    resumed = meter(saved)
    resumed.open("train")
    clock.advance(2.0)
    resumed.close("train")
    result = resumed.result()
    # 12 s at a quarter of the package: 1200 J / 4 = 300 J, idle 40 W x 12 s / 4 = 120 J; net 180 J.
    assert result.energy_j == pytest.approx(300.0)
    assert result.net_j == pytest.approx(180.0)


def test_the_denominator_is_the_hosts_busy_time() -> None:
    # Stretch 1: 100 J while this run used 2 of the host's 8 busy CPU seconds (the session 2; other users 6):
    # 25 J. Stretch 2: 60 J; this run 1 of 2 busy seconds, the session's other run the other one: 30 J more.
    source = SharedHostSource(
        Counter(0.0, 100.0, 160.0),
        Peers(own_cpu_s=Script(0.0, 2.0, 3.0), all_cpu_s=Script(0.0, 2.0, 4.0), runs=lambda: 2,
              host_busy_s=Script(0.0, 8.0, 10.0)),
    )
    assert source.energy_j() == pytest.approx(25.0)
    assert source.energy_j() == pytest.approx(55.0)
    # Other users: 6 of the 10 busy CPU seconds.
    assert (source.others_s, source.busy_s) == (pytest.approx(6.0), pytest.approx(10.0))


def test_one_slot_run_on_a_busy_host_is_charged_only_its_share(
    powercap: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    # `bnbench run` training in its own process (one slot) shares the package with everything else on the host:
    # the 400 J the package drew while this process used 1 of the host's 4 busy CPU seconds cost it 100 J.
    from bnbench.energy.devices import open_run_meter
    from bnbench.execute import local, slot_meter
    from bnbench.scenario import EnergyConfig

    from .test_rapl import MAX_UJ, set_uj

    cpu = {"own": 0.0, "host": 0.0}
    monkeypatch.setattr(slot_meter, "cpu_seconds_of", lambda pids: lambda: cpu["own"])
    monkeypatch.setattr(shared_host, "host_busy_s", lambda: cpu["host"])
    with local.sharing_this_process():
        meter = open_run_meter("cpu", EnergyConfig(powercap=str(powercap), estimate=False), idle_w={"cpu": 20.0})
        meter.open("train")
        time.sleep(0.5)  # a window long enough that the edges' reads, a moment apart, weigh under 1%
        cpu.update(own=1.0, host=4.0)
        set_uj(powercap, "intel-rapl:0", 399_000_000)  # from 1 J before the wrap: 1 J + 399 J = 400 J
        meter.close("train")
    assert shared_host.current_peers() is None  # restored for what comes after the runs
    result = meter.result()
    assert MAX_UJ > 399_000_000
    assert result.energy_j == pytest.approx(100.0)
    host = meter.parts[0].source
    assert isinstance(host, SharedHostSource)
    assert 100.0 * host.others_s / host.busy_s == pytest.approx(75.0)  # other processes: 3 of 4 busy seconds
    # Its idle is charged on its quarter of the window's seconds: runs.csv's idle_w is a quarter of 20 W.
    assert result.idle_j / result.measured_s == pytest.approx(5.0, rel=0.02)


def test_host_busy_seconds_leave_out_idle_and_guest_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc/stat: user 100 (guest 10 inside it, and again in its own field), system 40, idle 500, iowait 30,
    # irq 5: busy 100 + 40 + 5 = 145; the guest field is not added a second time.
    from collections import namedtuple

    Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")
    monkeypatch.setattr(psutil, "cpu_times", lambda: Times(100.0, 0.0, 40.0, 500.0, 30.0, 5.0, 0.0, 0.0, 10.0, 0.0))
    assert shared_host.host_busy_s() == pytest.approx(145.0)


def test_a_command_session_charges_the_host_by_its_commands_cpu_time_alone() -> None:
    # `bnbench measure` runs commands from its own process: its polling is not the command's work. Burning 0.3 s
    # of CPU in this process moves the command session's own CPU seconds by nothing (no child ran), while a
    # session that trains here counts it.
    import time as clock

    from bnbench.execute.local import sharing_this_process

    def burn() -> None:
        end = clock.process_time() + 0.3
        while clock.process_time() < end:
            pass

    with sharing_this_process(commands=True):
        own = shared_host.current_peers().own_cpu_s  # type: ignore[union-attr]
        before = own()
        burn()
        assert own() - before < 0.05
    with sharing_this_process():
        own = shared_host.current_peers().own_cpu_s  # type: ignore[union-attr]
        before = own()
        burn()
        assert own() - before >= 0.25
