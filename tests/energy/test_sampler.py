"""The sampler: ticks with a fake clock, chunked flushing, and a real thread at 100 Hz."""

from __future__ import annotations

import time

import pytest

from bnbench.energy.meter import DeviceMeter
from bnbench.energy.run_meter import PowerSample, RunMeter
from bnbench.energy.sampler import Sampler

from .fakes import FakeClock, ScriptedSource, chain


def test_ticks_stream_samples_and_flush_in_chunks() -> None:
    clock = FakeClock()
    source = ScriptedSource("nvml-power", power_w=[100.0, 100.0, 120.0, 140.0, 160.0])
    meter = RunMeter([DeviceMeter("cuda:0", chain(source), clock=clock)], clock=clock)
    rows: list[PowerSample] = []
    flushes: list[int] = []
    sampler = Sampler(meter, hz=10, sink=rows.extend, flush=lambda: flushes.append(len(rows)), flush_every_s=0.25,
                      clock=clock)
    meter.open("train")  # reads 100 W
    for _ in range(3):
        clock.advance(0.1)
        sampler.tick()  # 120, 140, 160 W
    assert [(r.device, round(r.t_s, 6), r.power_w, r.phase) for r in rows] == [
        ("cuda:0", 0.1, 120.0, "train"), ("cuda:0", 0.2, 140.0, "train"), ("cuda:0", 0.3, 160.0, "train")]
    # The chunk was due 0.25 s after the sampler was made: flushed once, after the third tick.
    assert flushes == [3]
    # Energy so far: trapezoids 100->120, 120->140, 140->160 over 0.1 s each = 11 + 13 + 15 = 39 J.
    assert meter.energy_j() == pytest.approx(39.0)


def test_rate_is_checked() -> None:
    meter = RunMeter([])
    with pytest.raises(ValueError, match="sample_hz"):
        Sampler(meter, hz=1000, sink=lambda _: None)


def test_thread_samples_at_about_the_rate_with_monotonic_times() -> None:
    source = ScriptedSource("nvml-power", power_w=[50.0])
    meter = RunMeter([DeviceMeter("cuda:0", chain(source))])
    rows: list[PowerSample] = []
    start = time.perf_counter()
    sampler = Sampler(meter, hz=100, sink=rows.extend).start()
    time.sleep(0.3)
    sampler.stop()
    elapsed_s = time.perf_counter() - start
    times = [r.t_s for r in rows]
    assert times == sorted(times)
    # 0.3 s at 100 Hz is 30 samples (plus the final one on stop); a loaded 2-core machine may drop some, and may
    # oversleep, so the ceiling is the time that really passed at 100 Hz, plus the first and the final sample.
    assert 10 <= len(rows) <= elapsed_s * 100 + 2
    assert sampler.error is None


class TimedSource(ScriptedSource):
    """A GPU counter whose reads were timed at 3 ms each when it opened (an H200's figure)."""

    period_s, read_s = 0.1, 0.003


def test_the_rate_is_capped_so_a_ticks_gpu_reads_fit_it() -> None:
    warnings: list[str] = []
    parts = [DeviceMeter(f"cuda:{i}", chain(TimedSource("nvml-counter", energy_j=[0.0], power_w=[300.0])))
             for i in range(8)]
    sampler = Sampler(RunMeter(parts), hz=100, sink=lambda _: None, warn=warnings.append)
    # 8 GPUs x 3 reads x 3 ms = 72 ms a tick, at most half of each period: 0.5 / 0.072 s = 6.94 Hz, not 100.
    assert sampler.hz == pytest.approx(0.5 / 0.072) and sampler.period_s == pytest.approx(0.144)
    assert warnings == ["sampling at 6.9 Hz instead of 100: one tick reads 8 GPU(s) 3 times at 3.0 ms a read"]
    one = Sampler(RunMeter(parts[:1]), hz=10, sink=lambda _: None, warn=warnings.append)
    assert one.hz == 10 and len(warnings) == 1  # 9 ms of a 100 ms tick: as asked
