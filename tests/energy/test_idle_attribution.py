"""The idle baseline with a fake clock, and the pure attribution functions."""

from __future__ import annotations

import math

import pytest

from bnbench.energy.attribution import split_shared_energy_j, sum_devices_once_j
from bnbench.energy.idle import measure_idle_w
from bnbench.energy.meter import DeviceMeter

from .fakes import FakeClock, ScriptedSource, chain


def test_idle_watts_from_a_power_source_and_a_counter() -> None:
    clock = FakeClock()
    gpu = DeviceMeter("cuda:0", chain(ScriptedSource("nvml-power", power_w=[60.0])), clock=clock)

    class Rapl:
        name = "rapl"

        def energy_j(self) -> float:
            return 12.0 * clock()  # a steady 12 W

        def power_w(self) -> None:
            return None

        def close(self) -> None:
            pass

    host = DeviceMeter("host", [("rapl", Rapl)], clock=clock)
    dead = DeviceMeter("cuda:1", [], clock=clock, warn=lambda _: None)
    idle = measure_idle_w([gpu, host, dead], idle_s=1.0, clock=clock, sleep=clock.advance)
    assert idle["cuda:0"] == pytest.approx(60.0)
    assert idle["host"] == pytest.approx(12.0)
    assert idle["cuda:1"] is None  # unknown, not 0 W
    assert measure_idle_w([gpu], idle_s=0) == {}


def test_split_shared_host_energy_by_cpu_time() -> None:
    # 90 J shared by runs that used 2 and 1 CPU-seconds: 60 J and 30 J.
    assert split_shared_energy_j(90.0, {"a": 2.0, "b": 1.0}) == {"a": 60.0, "b": 30.0}
    # CPU time unknown for one of them, or all zero: equal shares.
    assert split_shared_energy_j(90.0, {"a": 2.0, "b": None}) == {"a": 45.0, "b": 45.0}
    assert split_shared_energy_j(90.0, {"a": 0.0, "b": 0.0, "c": 0.0}) == {"a": 30.0, "b": 30.0, "c": 30.0}
    assert split_shared_energy_j(90.0, {}) == {}
    assert all(math.isnan(v) for v in split_shared_energy_j(math.nan, {"a": 1.0}).values())


def test_ddp_ranks_count_each_device_once() -> None:
    # Two ranks on two GPUs, each also reading the shared host: 100 + 110 + 40 J, not 100 + 110 + 2 x 40.
    ranks = [{"cuda:0": 100.0, "host": 40.0}, {"cuda:1": 110.0, "host": 40.0}]
    assert sum_devices_once_j(ranks) == pytest.approx(250.0)
    assert math.isnan(sum_devices_once_j([]))
