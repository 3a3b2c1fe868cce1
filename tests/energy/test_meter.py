"""A device meter on scripted sources and a fake clock: counters, trapezoids, derived power, fallbacks."""

from __future__ import annotations

import math

import pytest

from bnbench.energy.meter import DeviceMeter, trapezoid_j
from bnbench.energy.source import SourceError

from .fakes import FakeClock, ScriptedSource, chain


def test_trapezoid() -> None:
    # From 100 W to 300 W in a straight line over 2 s: mean 200 W x 2 s = 400 J.
    assert trapezoid_j(100.0, 300.0, 2.0) == 400.0


def test_counter_differences() -> None:
    clock = FakeClock()
    meter = DeviceMeter("cpu", chain(ScriptedSource("rapl", energy_j=[1000.0, 1012.5, 1040.0])), clock=clock)
    meter.tick()
    meter.tick()
    # 1040 - 1000 = 40 J, whatever the clock says.
    assert meter.total_j == pytest.approx(40.0)


def test_power_is_integrated_by_trapezoid() -> None:
    clock = FakeClock()
    meter = DeviceMeter("cuda:0", chain(ScriptedSource("nvml-power", power_w=[100.0, 200.0, 200.0])), clock=clock)
    clock.advance(1.0)
    meter.tick()  # 100 -> 200 W over 1 s: 150 J
    clock.advance(0.5)
    meter.tick()  # 200 -> 200 W over 0.5 s: 100 J
    assert meter.total_j == pytest.approx(250.0)


def test_power_derived_from_a_counter_and_the_cross_check() -> None:
    clock = FakeClock()
    meter = DeviceMeter("cpu", chain(ScriptedSource("rapl", energy_j=[0.0, 0.0, 50.0, 150.0])), clock=clock)
    assert meter.tick(sample=True) is None  # the first sample has nothing to difference against
    clock.advance(1.0)
    assert meter.tick(sample=True) == pytest.approx(50.0)  # 50 J in 1 s
    clock.advance(1.0)
    assert meter.tick(sample=True) == pytest.approx(100.0)
    # The integral of the sampled power covers the second interval only: (50 + 100) / 2 x 1 s = 75 J, against
    # 100 J on the counter over the same span.
    assert meter.integral_j == pytest.approx(75.0)
    assert meter.counter_span_j == pytest.approx(100.0)


def test_a_counter_with_its_own_power_reading() -> None:
    clock = FakeClock()
    source = ScriptedSource("nvml-counter", energy_j=[0.0, 0.0, 210.0, 400.0], power_w=[200.0, 220.0, 180.0])
    meter = DeviceMeter("cuda:0", chain(source), clock=clock)
    assert meter.tick(sample=True) == 200.0  # counter 0
    clock.advance(1.0)
    assert meter.tick(sample=True) == 220.0  # counter 210
    clock.advance(1.0)
    assert meter.tick(sample=True) == 180.0  # counter 400
    # Integral: (200 + 220) / 2 + (220 + 180) / 2 = 210 + 200 = 410 J against the counter's 400 J.
    assert meter.integral_j == pytest.approx(410.0)
    assert meter.counter_span_j == pytest.approx(400.0)
    assert meter.total_j == pytest.approx(400.0)


def test_fallback_bridges_the_gap_at_the_last_power() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    first = ScriptedSource("nvml-counter", energy_j=[0.0, 0.0, 100.0, SourceError("NVML: GPU is lost")],
                           power_w=[100.0])
    second = ScriptedSource("nvml-power", power_w=[80.0])
    meter = DeviceMeter("cuda:0", chain(first, second), clock=clock, warn=warnings.append)
    meter.tick(sample=True)
    clock.advance(1.0)
    meter.tick(sample=True)  # 100 J, and 100 W seen
    clock.advance(0.5)
    meter.tick()  # lost: the 0.5 s since the last reading is bridged at 100 W (50 J); nvml-power opens at 80 W
    assert first.closed
    assert meter.label == "nvml-power" and meter.sources_used == ["nvml-counter", "nvml-power"]
    assert meter.total_j == pytest.approx(150.0)
    clock.advance(1.0)
    meter.tick()  # 80 W for 1 s
    assert meter.total_j == pytest.approx(230.0)
    assert warnings == ["cuda:0: nvml-counter failed mid-run (NVML: GPU is lost); falling back"]


def test_no_source_at_all_is_nan_not_zero() -> None:
    warnings: list[str] = []
    meter = DeviceMeter("cpu", [], warn=warnings.append)
    assert meter.label == "none"
    assert math.isnan(meter.total_j)
    assert meter.tick(sample=True) is None
    assert warnings == ["cpu: no energy source; its energy is unknown"]


def test_a_source_that_reads_nothing_is_skipped() -> None:
    warnings: list[str] = []
    meter = DeviceMeter("cpu", chain(ScriptedSource("rapl"), ScriptedSource("estimate", energy_j=[0.0])),
                        warn=warnings.append)
    assert meter.label == "estimate"
    assert warnings == ["cpu: rapl unavailable (rapl: gave neither energy nor power); using estimate"]


def test_the_cpu_estimate_counts_a_running_childs_cpu_time(tmp_path):
    """A command's processes are children of the run's process: their CPU time counts while they run, not only
    once they have been waited for."""
    import subprocess
    import sys
    import time

    from bnbench.energy.estimate import process_cpu_s

    read = process_cpu_s(refresh_s=0.0)
    before_s = read()
    flag = tmp_path / "burnt"
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
        "open(sys.argv[1], 'w').close()\ntime.sleep(30)"), str(flag)])
    try:
        while not flag.exists():
            time.sleep(0.01)
        # The child has used at least 0.5 CPU seconds and is still running (sleeping), not yet waited for.
        assert read() - before_s >= 0.5
    finally:
        child.kill()
        child.wait()


def test_a_warning_is_one_write_of_a_whole_line(monkeypatch):
    # Pool workers share the terminal: a line written in two pieces (print's text, then its newline) interleaves
    # with another worker's into 'using estimatebnbench: warning: ...'.
    import sys

    from bnbench.energy import meter

    writes: list[str] = []

    class Recorder:
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stderr", Recorder())
    monkeypatch.setattr(meter, "_warned", set())
    meter.warn_once("cpu: rapl unavailable; using estimate")
    meter.warn_once("cpu: rapl unavailable; using estimate")  # once per process
    assert writes == ["bnbench: warning: cpu: rapl unavailable; using estimate\n"]
