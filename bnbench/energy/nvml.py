"""NVIDIA GPUs through NVML (the official `nvidia-ml-py` binding, module `pynvml`), imported lazily.

Two sources per GPU, best first:
- `nvml-counter`: `nvmlDeviceGetTotalEnergyConsumption`, millijoules since the driver loaded (Volta and newer).
  Differences between window edges are the exact energy. It updates every 20-100 ms or more: when a source
  opens, the counter is read back to back until it has moved twice (a fraction of a second), which gives its
  period (`period_s`) and what one read costs (`read_s`).
- `nvml-power`: polled power, integrated by the meter (trapezoid). The instantaneous field
  `NVML_FI_DEV_POWER_INSTANT` where supported; otherwise `nvmlDeviceGetPowerUsage`, which on Ampere (but GA100)
  and newer is a 1 s average: such a source says so (`averaged`), its meter warns, and the manifest's GPU
  entry reads `power_reading = "1 s average"`.
NVML cannot meter MIG slices: a MIG device gets no source. Every NVML call goes through `api`, the pynvml
module or a fake with the same names, so the logic is tested without a GPU. Milliwatts and millijoules become
watts and joules here, at the edge.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnbench.energy.source import NVML_COUNTER, NVML_POWER, EnergySource, SourceError

ARCHITECTURES = {2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere", 8: "Ada",
                 9: "Hopper", 10: "Blackwell", 13: "Rubin"}

_api: tuple[int, Any] | None = None
TIMING_LIMIT_S = 0.5  # the longest a counter's timing may take when its source opens; 0: not timed


def load_nvml() -> Any:
    """The initialized pynvml module, once per process (a forked or spawned worker initializes its own).

    SourceError when the binding, the library or the driver is missing.
    """
    global _api
    if _api is not None and _api[0] == os.getpid():
        return _api[1]
    try:
        import pynvml
    except ImportError:
        raise SourceError("NVML: the nvidia-ml-py package is not installed") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise SourceError(f"NVML: {exc}") from None
    _api = (os.getpid(), pynvml)
    return pynvml


def call(api: Any, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, with an NVML error turned into a one-line SourceError naming `what`."""
    try:
        return fn(*args)
    except api.NVMLError as exc:
        raise SourceError(f"NVML: {what}: {exc}") from None


def is_mig(api: Any, handle: Any) -> bool:
    """True for a MIG slice, or a GPU with MIG enabled: NVML cannot meter what one slice draws."""
    try:
        flag = api.nvmlDeviceIsMigDeviceHandle(handle)
        if bool(getattr(flag, "value", flag)):  # pynvml returns a ctypes c_uint
            return True
    except api.NVMLError:
        pass
    try:
        current, _pending = api.nvmlDeviceGetMigMode(handle)
        return bool(current == api.NVML_DEVICE_MIG_ENABLE)
    except api.NVMLError:
        return False


def _field_value(api: Any, field: Any) -> float:
    kind = field.valueType
    names = {api.NVML_VALUE_TYPE_DOUBLE: "dVal", api.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
             api.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal", api.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
             api.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal", api.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
             api.NVML_VALUE_TYPE_UNSIGNED_SHORT: "usVal"}
    return float(getattr(field.value, names.get(kind, "uiVal")))


def instant_power_w(api: Any, handle: Any) -> float:
    """Instantaneous power (NVML_FI_DEV_POWER_INSTANT, milliwatts) in watts. SourceError if unsupported."""
    fields = call(api, "field values", api.nvmlDeviceGetFieldValues, handle, [api.NVML_FI_DEV_POWER_INSTANT])
    field = fields[0]
    if field.nvmlReturn != api.NVML_SUCCESS:
        raise SourceError(f"NVML: instantaneous power field: {api.NVMLError(field.nvmlReturn)}")
    return _field_value(api, field) / 1000.0


def usage_power_w(api: Any, handle: Any) -> float:
    """nvmlDeviceGetPowerUsage (milliwatts; a 1 s average on Ampere and newer) in watts."""
    return call(api, "power usage", api.nvmlDeviceGetPowerUsage, handle) / 1000.0


def counter_j(api: Any, handle: Any) -> float:
    """nvmlDeviceGetTotalEnergyConsumption (millijoules since the driver loaded) in joules."""
    return call(api, "total energy", api.nvmlDeviceGetTotalEnergyConsumption, handle) / 1000.0


def counter_timing(
    api: Any, handle: Any, limit_s: float | None = None, clock: Callable[[], float] = time.perf_counter,
) -> tuple[float | None, float | None]:
    """Read the energy counter back to back until it has moved twice, for at most `limit_s` seconds (default
    `TIMING_LIMIT_S`): the seconds between the two moves (its update period; None when it moved fewer than
    twice) and the median seconds one read costs (None when not timed, `limit_s` 0)."""
    limit_s = TIMING_LIMIT_S if limit_s is None else limit_s
    if limit_s <= 0:
        return None, None
    last = counter_j(api, handle)
    moves: list[float] = []
    costs: list[float] = []
    start = clock()
    while len(moves) < 2:
        before = clock()
        if before - start >= limit_s:
            break
        value = counter_j(api, handle)
        after = clock()
        costs.append(after - before)
        if value != last:
            moves.append(after)
            last = value
    period_s = moves[1] - moves[0] if len(moves) == 2 else None
    return period_s, statistics.median(costs) if costs else None


def busy_pct(api: Any, handle: Any) -> float:
    """nvmlDeviceGetUtilizationRates' `gpu`: percent of the last sample period in which a kernel ran."""
    return float(call(api, "utilization", api.nvmlDeviceGetUtilizationRates, handle).gpu)


def busy_reader(api: Any, handle: Any) -> Callable[[], float | None] | None:
    """A reader of GPU busy % that answers None once it fails, or None when this GPU does not report it."""
    if not _works(lambda: busy_pct(api, handle)):
        return None

    def read() -> float | None:
        try:
            return busy_pct(api, handle)
        except SourceError:
            return None

    return read


def _works(read: Callable[[], Any]) -> bool:
    try:
        read()
        return True
    except SourceError:
        return False


INSTANT, AVERAGED = "instant", "1 s average"


def power_reading(api: Any, handle: Any) -> tuple[Callable[[], float] | None, str | None]:
    """The best power reading this GPU supports and what it is: (reader, INSTANT), else (reader, AVERAGED),
    else (None, None)."""
    if _works(lambda: instant_power_w(api, handle)):
        return (lambda: instant_power_w(api, handle)), INSTANT
    if _works(lambda: usage_power_w(api, handle)):
        return (lambda: usage_power_w(api, handle)), AVERAGED
    return None, None


def power_reader(api: Any, handle: Any) -> Callable[[], float] | None:
    """The best power reading this GPU supports (instantaneous, else averaged), or None."""
    return power_reading(api, handle)[0]


class NvmlCounterSource:
    """The energy counter; power for the trace from the best power reading (None when it has none).

    `period_s`: how often the counter moves, `read_s`: what a read costs, both measured when it opened (seconds;
    None when unknown)."""

    name = NVML_COUNTER

    def __init__(self, api: Any, handle: Any) -> None:
        self.api, self.handle = api, handle
        counter_j(api, handle)  # raises SourceError where the counter does not exist
        self.power = power_reader(api, handle)
        self.period_s, self.read_s = counter_timing(api, handle)

    def energy_j(self) -> float:
        return counter_j(self.api, self.handle)

    def power_w(self) -> float | None:
        if self.power is None:
            return None
        try:
            return self.power()
        except SourceError:
            self.power = None  # the counter still counts; the trace derives power from it from now on
            return None

    def close(self) -> None:
        pass


class NvmlPowerSource:
    """Polled power only; the meter integrates it. `averaged`: True when the GPU has no instantaneous field and
    the reading is NVML's 1 s average, which lags every change by up to a second."""

    name = NVML_POWER

    def __init__(self, api: Any, handle: Any) -> None:
        self.api, self.handle = api, handle
        power, kind = power_reading(api, handle)
        if power is None:
            raise SourceError("NVML: this GPU reports no power reading")
        self.power, self.averaged = power, kind == AVERAGED

    def energy_j(self) -> None:
        return None

    def power_w(self) -> float:
        return self.power()

    def close(self) -> None:
        pass


SourceFactory = Callable[[], EnergySource]


def gpu_chain(api: Any, handle: Any) -> list[tuple[str, SourceFactory]]:
    """The sources to try for one GPU, best first; empty for a MIG device."""
    if is_mig(api, handle):
        return []
    return [(NVML_COUNTER, lambda: NvmlCounterSource(api, handle)), (NVML_POWER, lambda: NvmlPowerSource(api, handle))]


@dataclass(frozen=True)
class GpuInfo:
    """A GPU as NVML describes it. Fields NVML could not give are None."""

    index: int
    name: str | None
    uuid: str | None
    architecture: str | None
    driver: str | None
    power_limit_w: float | None
    mig: bool
    counter: bool
    instant_power: bool
    average_power: bool
    counter_period_ms: float | None = None  # how often the counter moves, timed when probed
    read_ms: float | None = None  # what one counter read costs

    @property
    def source(self) -> str:
        """The source a run on this GPU starts with."""
        if self.mig:
            return "none"
        if self.counter:
            return NVML_COUNTER
        return NVML_POWER if self.instant_power or self.average_power else "none"

    @property
    def power_reading(self) -> str | None:
        """What its power reading is: INSTANT, AVERAGED (NVML's 1 s average), or None when it has none."""
        return INSTANT if self.instant_power else AVERAGED if self.average_power else None


def _maybe(api: Any, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        value = fn(*args)
    except api.NVMLError:
        return None
    return value.decode() if isinstance(value, bytes) else value


def probe(api: Any, index: int) -> GpuInfo:
    """What NVML can tell and read about GPU `index` (NVML's numbering)."""
    handle = call(api, f"GPU {index}", api.nvmlDeviceGetHandleByIndex, index)
    arch = _maybe(api, api.nvmlDeviceGetArchitecture, handle)
    limit_mw = _maybe(api, api.nvmlDeviceGetEnforcedPowerLimit, handle)
    counter = _works(lambda: counter_j(api, handle))
    period_s, read_s = counter_timing(api, handle) if counter else (None, None)
    return GpuInfo(
        index=index,
        name=_maybe(api, api.nvmlDeviceGetName, handle),
        uuid=_maybe(api, api.nvmlDeviceGetUUID, handle),
        architecture=None if arch is None else ARCHITECTURES.get(int(arch), f"arch {arch}"),
        driver=_maybe(api, api.nvmlSystemGetDriverVersion),
        power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
        mig=is_mig(api, handle),
        counter=counter,
        instant_power=_works(lambda: instant_power_w(api, handle)),
        average_power=_works(lambda: usage_power_w(api, handle)),
        counter_period_ms=None if period_s is None else period_s * 1000,
        read_ms=None if read_s is None else read_s * 1000,
    )


def inventory(api: Any) -> list[GpuInfo]:
    """Every GPU NVML sees, in NVML's order."""
    count = call(api, "device count", api.nvmlDeviceGetCount)
    return [probe(api, i) for i in range(count)]
