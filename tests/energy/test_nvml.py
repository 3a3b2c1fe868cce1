"""The NVML path against a fake NVML: counter, power fields, MIG, no driver, errors mid-run."""

from __future__ import annotations

import math

import pynvml
import pytest

from bnbench.energy import devices, nvml
from bnbench.energy.meter import DeviceMeter
from bnbench.energy.source import SourceError

from .fakes import Error, FakeClock, FakeGpu, FakeNvml

LOST = Error(pynvml.NVML_ERROR_GPU_IS_LOST)


def test_counter_is_converted_from_millijoules() -> None:
    api = FakeNvml([FakeGpu(energy_mj=[5_000_000, 5_250_500], instant_mw=[250_000])])
    source = nvml.NvmlCounterSource(api, api.gpus[0])
    # The constructor read 5,000,000 mJ once to check the counter; the next reading is 5,250,500 mJ = 5250.5 J.
    assert source.energy_j() == pytest.approx(5250.5)
    # 250,000 mW from the instantaneous field = 250 W.
    assert source.power_w() == pytest.approx(250.0)


def test_power_prefers_the_instant_field_and_falls_back_to_usage() -> None:
    instant = FakeNvml([FakeGpu(instant_mw=[123_000], usage_mw=[999_000])])
    assert nvml.NvmlPowerSource(instant, instant.gpus[0]).power_w() == pytest.approx(123.0)
    averaged = FakeNvml([FakeGpu(usage_mw=[80_000])])
    assert nvml.NvmlPowerSource(averaged, averaged.gpus[0]).power_w() == pytest.approx(80.0)
    silent = FakeNvml([FakeGpu()])
    with pytest.raises(SourceError, match="no power reading"):
        nvml.NvmlPowerSource(silent, silent.gpus[0])


def test_window_on_the_counter_is_the_difference() -> None:
    # Readings: open 1,000,000 mJ (prime), window edge 1,000,000, edge 1,360,000: 360 J over the window.
    api = FakeNvml([FakeGpu(energy_mj=[1_000_000, 1_000_000, 1_000_000, 1_360_000], usage_mw=[300_000])])
    clock = FakeClock()
    meter = devices.open_run_meter("cuda:0", idle_w={"cuda:0": 50.0}, clock=clock, nvml_api=api)
    meter.parts = [p for p in meter.parts if p.key == "cuda:0"]  # the GPU alone: no host in this test
    meter.open("train")
    clock.advance(1.2)
    meter.close("train")
    result = meter.result()
    assert result.energy_source == "nvml-counter"
    assert result.energy_j == pytest.approx(360.0)
    # Net: 360 J - 50 W x 1.2 s = 300 J.
    assert result.net_j == pytest.approx(300.0)


def test_counter_lost_mid_run_falls_back_to_power_then_nothing() -> None:
    # Power readings 1 and 2 are the sources' checks when they open, 3 primes nvml-power, 4 is the next tick.
    gpu = FakeGpu(energy_mj=[0, 0, 100_000, LOST], usage_mw=[200_000] * 4 + [LOST])
    api = FakeNvml([gpu])
    clock = FakeClock()
    warnings: list[str] = []
    chain, _, _ = devices.gpu_chain(0, api)
    meter = DeviceMeter("cuda:0", chain, clock=clock, warn=warnings.append)  # counter opened: 0 mJ
    clock.advance(0.5)
    meter.tick()  # 100,000 mJ: 100 J
    assert meter.total_j == pytest.approx(100.0)
    clock.advance(0.5)
    meter.tick()  # the GPU is lost: fall back to nvml-power, whose first reading is 200 W
    assert meter.label == "nvml-power"
    assert "failed mid-run" in warnings[0] and "GPU is lost" in warnings[0]
    # The 0.5 s gap is bridged at the last power seen: none was sampled yet, so it is not counted.
    assert meter.total_j == pytest.approx(100.0)
    clock.advance(1.0)
    meter.tick()  # 200 W -> 200 W over 1 s: +200 J by the trapezoid
    assert meter.total_j == pytest.approx(300.0)
    clock.advance(1.0)
    meter.tick()  # the power reading is lost too: nothing is left, the total is unknown from now on
    assert meter.label == "none"
    assert math.isnan(meter.total_j)


def test_mig_has_no_source() -> None:
    for gpu in (FakeGpu(energy_mj=[1], mig_slice=True), FakeGpu(energy_mj=[1], mig_enabled=True)):
        api = FakeNvml([gpu])
        chain, why, _ = devices.gpu_chain(0, api)
        assert chain == [] and "MIG" in why
        warnings: list[str] = []
        meter = devices.open_device_meter("cuda:0", nvml_api=api, warn=warnings.append)
        assert meter.label == "none" and math.isnan(meter.total_j)
        assert warnings == ["cuda:0: no energy source (NVML reports no energy per MIG slice); its energy is unknown"]


def test_no_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise SourceError("NVML: NVML Shared Library Not Found")

    monkeypatch.setattr(nvml, "load_nvml", missing)
    warnings: list[str] = []
    meter = devices.open_device_meter("cuda:0", warn=warnings.append)
    assert meter.label == "none" and math.isnan(meter.total_j)
    assert "Shared Library Not Found" in warnings[0]
    assert devices.gpu_report() == ([], "NVML: NVML Shared Library Not Found")
    assert devices.gpu_manifest() == []


def test_inventory_describes_each_gpu() -> None:
    api = FakeNvml([
        FakeGpu(energy_mj=[1], instant_mw=[1], usage_mw=[1]),
        FakeGpu(name="Tesla P100", arch=pynvml.NVML_DEVICE_ARCH_PASCAL, uuid="GPU-b", limit_mw=250_000,
                usage_mw=[1]),
    ])
    a100, p100 = nvml.inventory(api)
    assert (a100.name, a100.architecture, a100.driver, a100.power_limit_w) == (
        "NVIDIA A100-SXM4-40GB", "Ampere", "550.54.15", 400.0)
    assert (a100.counter, a100.instant_power, a100.source) == (True, True, "nvml-counter")
    # Pascal has no energy counter: the averaged power is integrated.
    assert (p100.architecture, p100.counter, p100.instant_power, p100.source) == ("Pascal", False, False, "nvml-power")
    assert devices.gpu_manifest(api)[1]["energy_source"] == "nvml-power"


class TimedCounter(FakeNvml):
    """A counter that moves every 50 ms of a fake clock, 1 ms per read: as a real counter is seen read back
    to back."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__([FakeGpu(energy_mj=[0])])
        self.clock = clock

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        self.clock.advance(0.001)
        return int(round(self.clock() * 1000, 6) // 50) * 1000  # +1000 mJ at every 50 ms


def test_the_counter_period_and_read_cost_are_timed_when_it_opens() -> None:
    clock = FakeClock(0.0)
    api = TimedCounter(clock)
    period_s, read_s = nvml.counter_timing(api, api.gpus[0], limit_s=0.5, clock=clock)
    # Reads land every 1 ms: the counter is seen to move at 50 ms and at 100 ms, so its period is 50 ms; each
    # read costs the 1 ms the fake clock moves inside it.
    assert period_s == pytest.approx(0.050) and read_s == pytest.approx(0.001)
    # A counter that never moves within the limit: its period is unknown, not guessed.
    still = FakeNvml([FakeGpu(energy_mj=[7])])
    assert nvml.counter_timing(still, still.gpus[0], limit_s=0.01)[0] is None


def test_the_manifest_records_each_gpus_timing_and_sample_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from bnbench.energy.sampler import gpu_sample_hz

    monkeypatch.setattr(nvml, "TIMING_LIMIT_S", 0.5)
    # The probe reads the counter once to see it works (1000), then times it: 1000, 2000 (a move), 3000 (a move).
    api = FakeNvml([FakeGpu(energy_mj=[1000, 1000, 2000, 3000])])
    gpu = devices.gpu_manifest(api)[0]
    assert gpu["counter_period_ms"] is not None and gpu["read_ms"] is not None
    # 3 ms a read, 3 reads a tick per GPU: one GPU at 100 Hz takes 9 ms of a 10 ms tick, more than half, so
    # 0.5 / 9 ms = 55.6 Hz; 8 GPUs a tick take 72 ms, so 0.5 / 72 ms = 6.94 Hz.
    timed = {**gpu, "read_ms": 3.0}
    assert gpu_sample_hz([timed], 100.0, 1)[0]["sample_hz"] == pytest.approx(0.5 / 0.009)
    assert gpu_sample_hz([timed], 100.0, 8)[0]["sample_hz"] == pytest.approx(0.5 / 0.072)
    assert gpu_sample_hz([timed], 10.0, 1)[0]["sample_hz"] == 10.0  # fits: as asked


def test_nvml_power_says_when_its_reading_is_the_1s_average() -> None:
    # A GPU without the counter: nvml-power, from the instantaneous field where it exists.
    instant = FakeNvml([FakeGpu(energy_mj=None, instant_mw=[250_000], usage_mw=[240_000])])
    averaged = FakeNvml([FakeGpu(energy_mj=None, usage_mw=[240_000])])
    warnings: list[str] = []
    sources = [nvml.NvmlPowerSource(api, api.gpus[0]) for api in (instant, averaged)]
    assert [s.averaged for s in sources] == [False, True]
    assert sources[0].power_w() == pytest.approx(250.0)  # the instantaneous field, not the average
    for source in sources:
        DeviceMeter("cuda:0", [("nvml-power", lambda s=source: s)], warn=warnings.append)
    assert warnings == ["cuda:0: nvml-power reads NVML's 1 s-averaged power (this GPU has no instantaneous power "
                        "field): it lags each change by up to a second, so a short phase is smeared into its "
                        "neighbours"]
    assert [g["power_reading"] for g in devices.gpu_manifest(instant) + devices.gpu_manifest(averaged)] == [
        "instant", "1 s average"]
