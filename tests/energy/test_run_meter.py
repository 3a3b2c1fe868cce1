"""Phase windows, warm-up exclusion, idle baseline, resuming from an offset, and the runs.csv columns."""

from __future__ import annotations

import json
import math

import pytest

from bnbench.energy.columns import energy_columns
from bnbench.energy.estimate import CpuEstimateSource
from bnbench.energy.meter import DeviceMeter
from bnbench.energy.run_meter import RunMeter
from bnbench.scenario import EnergyConfig

from .fakes import FakeClock, ScriptedSource, chain


class Counter:
    """A counter source whose value the test sets (joules)."""

    def __init__(self, name: str = "rapl") -> None:
        self.name, self.value = name, 0.0

    def energy_j(self) -> float:
        return self.value

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        pass


def run_meter(clock: FakeClock, *keys: str, **kwargs: object) -> tuple[RunMeter, dict[str, Counter]]:
    counters = {k: Counter() for k in keys}
    parts = [DeviceMeter(k, [("rapl", lambda c=c: c)], clock=clock) for k, c in counters.items()]
    return RunMeter(parts, clock=clock, **kwargs), counters  # type: ignore[arg-type]


def test_phases_and_warmup_exclusion() -> None:
    clock = FakeClock()
    meter, c = run_meter(clock, "cpu", idle_w={"cpu": 10.0})
    meter.open("warmup")
    c["cpu"].value, _ = 30.0, clock.advance(2.0)
    meter.close("warmup")
    meter.open("train")
    c["cpu"].value, _ = 130.0, clock.advance(4.0)
    meter.close("train")
    c["cpu"].value = 140.0  # between windows: charged to setup, so every joule is in a phase
    meter.open("eval")
    c["cpu"].value, _ = 165.0, clock.advance(1.0)
    meter.close("eval")
    result = meter.result()
    assert result.phase_j == {"setup": 10.0, "warmup": 30.0, "train": 100.0, "eval": 25.0, "checkpoint": 0.0}
    assert sum(result.phase_j.values()) == 165.0  # the counter's whole span
    # Setup and warm-up excluded: 100 + 25 = 125 J over 5 measured seconds; net = 125 - 10 W x 5 s = 75 J.
    assert result.energy_j == 125.0 and result.measured_s == 5.0
    assert result.net_j == pytest.approx(75.0)
    assert result.host_j == 125.0  # a CPU run: the host is the device
    assert meter.energy_j() == 125.0


def test_nested_window_is_charged_once() -> None:
    clock = FakeClock()
    meter, c = run_meter(clock, "cpu")
    meter.open("train")
    c["cpu"].value = 10.0
    meter.open("checkpoint")
    c["cpu"].value = 14.0
    meter.close("checkpoint")
    c["cpu"].value = 20.0
    meter.close("train")
    # Train: 10 before the checkpoint + 6 after it; checkpoint: 4. In all 20, not 24.
    assert meter.result().phase_j["train"] == 16.0
    assert meter.result().phase_j["checkpoint"] == 4.0
    assert meter.result().energy_j == 20.0


def test_window_misuse_is_an_error() -> None:
    meter, _ = run_meter(FakeClock(), "cpu")
    with pytest.raises(ValueError, match="unknown energy phase 'trian'"):
        meter.open("trian")
    meter.open("train")
    with pytest.raises(ValueError, match="closing energy window 'eval'"):
        meter.close("eval")


def test_energy_so_far_counts_the_open_window_up_to_the_last_reading() -> None:
    clock = FakeClock()
    meter, c = run_meter(clock, "cpu")
    meter.open("train")
    c["cpu"].value = 7.0
    meter.sample()  # the sampler's reading
    assert meter.energy_j() == 7.0


def test_gpu_run_sums_device_and_host_and_labels_both() -> None:
    clock = FakeClock()
    gpu = DeviceMeter("cuda:0", chain(ScriptedSource("nvml-counter", energy_j=[0.0, 0.0, 300.0])), clock=clock)
    cpu = {"s": 40.0}  # the process's CPU seconds
    host = DeviceMeter("host", [("estimate", lambda: CpuEstimateSource(10.0, cpu_s=lambda: cpu["s"]))], clock=clock)
    meter = RunMeter([gpu, host], idle_w={"cuda:0": 50.0}, clock=clock)
    meter.open("train")
    clock.advance(1.0)
    cpu["s"] = 42.0
    meter.close("train")
    result = meter.result()
    # GPU 300 J + host 2 CPU-seconds x 10 W = 20 J.
    assert result.energy_j == pytest.approx(320.0) and result.host_j == pytest.approx(20.0)
    assert result.energy_source == "nvml-counter+estimate"
    assert math.isnan(result.idle_w) and math.isnan(result.net_j)  # the host's idle power is unknown


def test_resume_from_a_snapshot() -> None:
    clock = FakeClock()
    first, c = run_meter(clock, "cpu")
    first.open("train")
    c["cpu"].value, _ = 1000.0, clock.advance(10.0)
    first.close("train")
    saved = json.loads(json.dumps(first.snapshot()))  # as a checkpoint would store it
    resumed, c2 = run_meter(clock, "cpu", start_from=saved)
    resumed.open("train")
    c2["cpu"].value, _ = 234.5, clock.advance(2.0)
    resumed.close("train")
    # 1000 J before the restart + 234.5 J after it, over 12 measured seconds.
    assert resumed.result().energy_j == pytest.approx(1234.5)
    assert resumed.result().measured_s == pytest.approx(12.0)
    # The documented minimal offset: joules of one phase of one part.
    offset, c3 = run_meter(clock, "cpu", start_from={"phase_j": {"cpu": {"train": 1234.5}}})
    assert offset.energy_j() == 1234.5


def test_columns() -> None:
    clock = FakeClock()
    meter, c = run_meter(clock, "cpu", idle_w={"cpu": 0.0})
    meter.open("train")
    c["cpu"].value, _ = 3.6e6, clock.advance(3600.0)  # 1 kWh in an hour
    meter.close("train")
    row = energy_columns(meter.result(), EnergyConfig(co2_g_per_kwh=400.0, price_per_kwh=0.25, pue=1.2))
    assert row["energy_j"] == 3.6e6 and row["kwh"] == pytest.approx(1.0) and row["net_kwh"] == pytest.approx(1.0)
    assert row["tea_cups"] == pytest.approx(30.0)  # 1000 Wh / 33.33 Wh
    assert row["co2_g"] == pytest.approx(480.0)  # 1 kWh x 1.2 x 400 g
    assert row["cost"] == pytest.approx(0.30)  # 1 kWh x 1.2 x 0.25
    assert row["energy_source"] == "rapl" and row["energy_train_j"] == 3.6e6 and row["energy_warmup_j"] == 0.0


def test_unmeasured_run_has_nan_columns() -> None:
    meter = RunMeter([DeviceMeter("cpu", [], warn=lambda _: None)])
    meter.open("train")
    meter.close("train")
    row = energy_columns(meter.result(), EnergyConfig(estimate=False))
    assert row["energy_source"] == "none"
    for column in ("energy_j", "kwh", "net_kwh", "tea_cups", "co2_g", "cost", "energy_train_j"):
        assert math.isnan(row[column]), column


class SteppingGpu:
    """A GPU drawing `watts` by phase, whose energy counter (like NVML's) moves only every 1/16 s = 62.5 ms.

    Power is piecewise constant over half-open stretches (start, end]: a reading at a window's closing edge is
    the power of the work just done, as a reading after the device's synchronize is.
    """

    name = "nvml-counter"
    step_s = 1 / 16

    def __init__(self, clock: FakeClock, stretches: list[tuple[float, float]]) -> None:
        self.clock, self.stretches = clock, stretches  # (end_s, watts), in order

    def watts(self, t: float) -> float:
        return next(w for end, w in self.stretches if t <= end)

    def true_j(self, t: float) -> float:
        joules, start = 0.0, 0.0
        for end, w in self.stretches:
            joules += w * max(0.0, min(t, end) - start)
            start = end
        return joules

    def energy_j(self) -> float:
        return self.true_j(math.floor(self.clock() / self.step_s) * self.step_s)

    def power_w(self) -> float:
        return self.watts(self.clock())

    def close(self) -> None:
        pass


def test_short_windows_get_the_energy_their_power_says() -> None:
    # Windows of 1/128 s (7.8 ms) between 0.5 s trainings, on a counter that moves every 62.5 ms; times are
    # multiples of 1/128 so every figure below is exact in binary.
    tick = 1 / 128
    clock = FakeClock(0.0)
    plan = [("train", 0.5, 200.0), ("eval", tick, 300.0), ("train", 0.5, 200.0), ("eval", tick, 300.0),
            ("checkpoint", tick, 250.0), ("train", 0.25, 200.0)]
    ends, t = [], 0.0
    for _, seconds, watts in plan:
        t += seconds
        ends.append((t, watts))
    gpu = SteppingGpu(clock, [*ends, (math.inf, 60.0)])
    meter = RunMeter([DeviceMeter("cuda:0", [("nvml-counter", lambda: gpu)], clock=clock)], clock=clock)
    for phase, seconds, _ in plan:
        meter.open(phase)
        while seconds > 0:  # the sampler, every 1/8 s
            step = min(seconds, 1 / 8)
            clock.advance(step)
            seconds -= step
            if seconds > 0:
                meter.sample()
        meter.close(phase)
    phases = meter.result().phase_j
    # What the GPU drew in each phase: train 200 W x 1.25 s = 250 J; eval 300 W x 2/128 s = 4.6875 J;
    # checkpoint 250 W x 1/128 s = 1.953125 J; 256.640625 J in all. The counter alone gave both evals and the
    # checkpoint 0 J (it did not move inside them) and their joules to the next training. The counter last
    # moved at 1.25 s, 3/128 s before the run ended, so it says 256.640625 - 200 W x 3/128 s = 251.953125 J:
    # each phase gets its sampled share of that.
    scale = 251.953125 / 256.640625
    assert phases["eval"] == pytest.approx(4.6875 * scale)
    assert phases["checkpoint"] == pytest.approx(1.953125 * scale)
    assert phases["train"] == pytest.approx(250.0 * scale)
    assert phases["setup"] == 0.0 and phases["warmup"] == 0.0
    assert sum(phases.values()) == pytest.approx(gpu.energy_j())  # the counter's total is kept


class LaggingGpu:
    """A GPU drawing piecewise-constant watts, whose energy counter moves every `period_s`, at a phase of
    its own (`offset_s`): between moves it reads what was true at the last move, so it lags by 0 to one period.
    Its power reading is the watts of the work just done (read after a synchronize)."""

    name = "nvml-counter"

    def __init__(self, clock: FakeClock, period_s: float, offset_s: float) -> None:
        self.clock, self.period_s, self.offset_s = clock, period_s, offset_s
        self.stretches: list[tuple[float, float, float]] = []  # (start_s, end_s, watts)

    def draw(self, watts: float, seconds: float) -> None:
        start = self.stretches[-1][1] if self.stretches else self.clock()
        self.stretches.append((start, start + seconds, watts))

    def true_j(self, t: float) -> float:
        return math.fsum(w * max(0.0, min(t, end) - start) for start, end, w in self.stretches)

    def energy_j(self) -> float:
        moved = math.floor((self.clock() - self.offset_s) / self.period_s) * self.period_s + self.offset_s
        return self.true_j(moved)

    def power_w(self) -> float:
        t = self.clock()
        return next((w for start, end, w in self.stretches if start < t <= end), self.stretches[-1][2])

    def close(self) -> None:
        pass


def simulate(window_s: float, offset_s: float, cycles: int = 8) -> dict[str, tuple[float, float]]:
    """500 W training for 1 s, then a `window_s` evaluation at 200 W, `cycles` times, on a 100 ms counter;
    a sampler at 10 Hz in between. Per phase: (measured J, true J)."""
    clock = FakeClock(0.0)
    gpu = LaggingGpu(clock, 0.1, offset_s)
    meter = RunMeter([DeviceMeter("cuda:0", [("nvml-counter", lambda: gpu)], clock=clock)], clock=clock)
    true = {"train": 0.0, "eval": 0.0}
    next_sample = 0.1
    for _ in range(cycles):
        for phase, watts, seconds in (("train", 500.0, 1.0), ("eval", 200.0, window_s)):
            gpu.draw(watts, seconds)
            true[phase] += watts * seconds
            meter.open(phase)
            end = clock() + seconds
            while next_sample < end:  # the sampler's ticks inside the window
                clock.t = next_sample
                meter.sample()
                next_sample += 0.1
            clock.t = end
            meter.close(phase)
    measured = meter.result().phase_j
    return {phase: (measured[phase], true[phase]) for phase in true}


@pytest.mark.parametrize("window_s", [0.01, 0.05, 0.12, 0.15, 0.25, 0.4, 1.0, 2.0])
def test_every_window_length_gets_its_own_energy(window_s: float) -> None:
    # The raw counter differences gave 120-400 ms evaluations +23% to +62% and training 3-5% too little: each
    # edge moved up to one period of the phase before into the window. Split by sampled power and scaled to
    # the counter, every phase is within 2% of what the GPU drew, whatever the counter's phase. The only error
    # left is the counter's lag at the run's end (at most 100 ms x 500 W = 50 J of at least 4000 J).
    for offset_s in (0.0, 0.03, 0.07):
        for phase, (measured_j, true_j) in simulate(window_s, offset_s).items():
            assert measured_j == pytest.approx(true_j, rel=0.02), (phase, offset_s)


def test_a_counter_that_goes_backwards_counts_that_interval_from_power() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    # Counter readings: at open, then 1 s later +400 J, then a reset to 5 J (driver reload), then +300 J.
    gpu = DeviceMeter("cuda:0", chain(ScriptedSource("nvml-counter", energy_j=[1000.0, 1400.0, 5.0, 305.0],
                                                     power_w=[400.0, 300.0])),
                      clock=clock, warn=warnings.append)
    for _ in range(3):
        clock.advance(1.0)
        gpu.tick(sample=True)
    # 400 J counted; over the reset interval power went 400 W -> 300 W for 1 s: trapezoid 350 J; then 300 J.
    assert gpu.total_j == pytest.approx(400.0 + 350.0 + 300.0)
    assert warnings == ["cuda:0: nvml-counter went backwards (a driver reload or GPU reset restarted it); that "
                        "interval is counted from its power"]


def test_a_short_window_without_power_readings_warns() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    gpu = DeviceMeter("cuda:0", chain(ScriptedSource("nvml-counter", energy_j=[500.0])), clock=clock)
    meter = RunMeter([gpu], clock=clock, warn=warnings.append)
    meter.open("eval")
    clock.advance(0.05)  # 50 ms, the counter has not moved, and this GPU reads no power
    meter.close("eval")
    assert warnings == ["cuda:0: a 'eval' window shorter than the energy counter's update period (100 ms) read 0 J "
                        "and no power reading can split it; its energy lands in the next window. Lengthen "
                        "eval_every for a per-phase split"]
    meter.open("train")
    clock.advance(0.5)  # long enough: no warning, even at 0 J
    meter.close("train")
    assert len(warnings) == 1


class SlowCounter(ScriptedSource):
    """A counter timed at 200 ms when it opened, with no power reading."""

    period_s = 0.2


def test_short_windows_are_judged_against_the_counters_measured_period() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    gpu = DeviceMeter("cuda:0", chain(SlowCounter("nvml-counter", energy_j=[500.0])), clock=clock)
    meter = RunMeter([gpu], clock=clock, warn=warnings.append)
    meter.open("eval")
    clock.advance(0.15)  # longer than the 100 ms once assumed for every counter, shorter than this one's 200 ms
    meter.close("eval")
    assert warnings == ["cuda:0: a 'eval' window shorter than the energy counter's update period (200 ms) read 0 J "
                        "and no power reading can split it; its energy lands in the next window. Lengthen "
                        "eval_every for a per-phase split"]


def test_energy_so_far_inside_a_long_window_is_the_counter_since_it_opened() -> None:
    clock = FakeClock()
    # Counter readings: the meter opens at 0 J, the train window opens at 20 J (40 ms of setup at 500 W), then
    # three sampler ticks 0.1 s apart read 70, 120 and 170 J; power is 500 W throughout.
    gpu = DeviceMeter("cuda:0", chain(ScriptedSource("nvml-counter", energy_j=[0.0, 20.0, 70.0, 120.0, 170.0],
                                                     power_w=[500.0])), clock=clock)
    meter = RunMeter([gpu], clock=clock)
    clock.advance(0.04)
    meter.open("train")
    for _ in range(3):
        clock.advance(0.1)
        meter.sample()
    # Setup is excluded; the training so far is the counter since the window opened, 170 - 20 = 150 J. The
    # samples taken inside the open window must not enter the split before its counter difference does (they
    # would scale the setup's 20 J over 20 + 150 sampled joules and count 17.6 J of it as training).
    assert meter.energy_j() == pytest.approx(150.0)


class SharedCounter(Counter):
    """A counter shared with other runs, which says how many seconds of its device it charged this run
    (`held_s`), each read at its own moment, as `bnbench.energy.shared_host` does."""

    held_s = 0.0


def test_a_share_read_a_moment_off_the_windows_edge_never_holds_the_device_longer_than_the_window() -> None:
    clock = FakeClock()
    shared = SharedCounter()
    meter = RunMeter([DeviceMeter("cpu", [("rapl", lambda: shared)], clock=clock)], clock=clock,
                     idle_w={"cpu": 10.0})
    meter.open("train")
    # The source read its share 20 ms before the window opened and 4.0 s later: the run alone on the host
    # held it for 4.02 s of its own clock, while the window lasted 4.0 s of the meter's.
    shared.value, shared.held_s, _ = 100.0, 4.02, clock.advance(4.0)
    meter.close("train")
    result = meter.result()
    # Alone, the run is charged the whole baseline, never more: 10 W x 4 s = 40 J, 100 - 40 = 60 J net.
    assert result.measured_s == 4.0 and result.idle_j == 40.0 and result.net_j == 60.0
