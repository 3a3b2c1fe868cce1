"""Fakes for the hardware: an NVML with scripted readings, scripted sources, a clock that moves when told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

import psutil
import pynvml

from bnbench.energy.source import SourceError


class FakeClock:
    """Monotonic seconds that advance only through `advance` (or `sleep`)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    sleep = advance


class NVMLError(Exception):
    """Same shape as pynvml's: `value` is the NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {pynvml.NVML_ERROR_NOT_SUPPORTED: "Not Supported", pynvml.NVML_ERROR_GPU_IS_LOST: "GPU is lost",
                pynvml.NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found"}.get(self.value, str(self.value))


Script = list[Any]
"""Readings handed out in order (the last one repeats); an int error code in the list is raised as NVMLError."""


@dataclass
class FakeGpu:
    name: str = "NVIDIA A100-SXM4-40GB"
    uuid: str = "GPU-aaaa"
    arch: int = pynvml.NVML_DEVICE_ARCH_AMPERE
    limit_mw: int = 400_000
    energy_mj: Script | None = None  # None: no counter (pre-Volta)
    instant_mw: Script | None = None  # None: the instantaneous field is not supported
    usage_mw: Script | None = None  # None: no power reading at all
    mig_slice: bool = False
    mig_enabled: bool = False
    bus_id: str = "00000000:01:00.0"
    busy_pct: Script | None = None  # None: utilization is not supported
    persistence: int = 1
    processes: list[int] = field(default_factory=list)  # pids of compute processes on it
    held: Script | None = None  # {pid: bytes or None} per read of the compute processes; None: `processes`, 1 GiB
    graphics: list[int] = field(default_factory=list)  # pids of graphics processes on it
    sm_samples: Script | None = None  # per read: [(pid, sm %, timestamp us), ...]; None: not supported
    reads: dict[str, int] = field(default_factory=dict)

    def next(self, what: str, script: Script | None) -> Any:
        if script is None:
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        i = self.reads.get(what, 0)
        self.reads[what] = i + 1
        value = script[min(i, len(script) - 1)]
        if isinstance(value, Error):
            raise NVMLError(value.code)
        return value


@dataclass(frozen=True)
class Error:
    """A scripted NVML error: `Error(pynvml.NVML_ERROR_GPU_IS_LOST)`."""

    code: int


class FakeNvml:
    """The parts of the pynvml module bnbench uses, over a list of fake GPUs (NVML's index order)."""

    NVMLError = NVMLError

    def __init__(self, gpus: list[FakeGpu], driver: str = "550.54.15") -> None:
        self.gpus, self.driver = gpus, driver
        for name in dir(pynvml):
            if name.startswith(("NVML_FI_", "NVML_VALUE_TYPE_", "NVML_DEVICE_MIG_", "NVML_SUCCESS",
                                "NVML_ERROR_")):
                setattr(self, name, getattr(pynvml, name))

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        if index >= len(self.gpus):
            raise NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeGpu:
        for gpu in self.gpus:
            if gpu.uuid == uuid:
                return gpu
        raise NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str:
        return gpu.name

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        return gpu.uuid

    def nvmlDeviceGetArchitecture(self, gpu: FakeGpu) -> int:
        return gpu.arch

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetEnforcedPowerLimit(self, gpu: FakeGpu) -> int:
        return gpu.limit_mw

    def nvmlDeviceIsMigDeviceHandle(self, gpu: FakeGpu) -> int:
        return int(gpu.mig_slice)

    def nvmlDeviceGetMigMode(self, gpu: FakeGpu) -> list[int]:
        if not gpu.mig_enabled:
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return [pynvml.NVML_DEVICE_MIG_ENABLE, pynvml.NVML_DEVICE_MIG_ENABLE]

    def nvmlDeviceGetPciInfo(self, gpu: FakeGpu) -> SimpleNamespace:
        return SimpleNamespace(busId=gpu.bus_id.encode())

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> SimpleNamespace:
        return SimpleNamespace(gpu=gpu.next("busy", gpu.busy_pct), memory=0)

    def nvmlDeviceGetPersistenceMode(self, gpu: FakeGpu) -> int:
        return gpu.persistence

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        if gpu.held is not None:
            return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in gpu.next("held", gpu.held).items()]
        return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid in gpu.processes]

    def nvmlDeviceGetGraphicsRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        if not gpu.graphics:
            raise NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in gpu.graphics]

    def nvmlDeviceGetProcessUtilization(self, gpu: FakeGpu, last_seen_us: int) -> list[SimpleNamespace]:
        """NVML's per-process samples newer than `last_seen_us`; NOT_FOUND when there are none."""
        samples = [SimpleNamespace(pid=pid, smUtil=sm, timeStamp=ts, memUtil=0, encUtil=0, decUtil=0)
                   for pid, sm, ts in gpu.next("sm", gpu.sm_samples) if ts > last_seen_us]
        if not samples:
            raise NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return samples

    def nvmlSystemGetNVMLVersion(self) -> str:
        return "12.550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        return gpu.next("energy", gpu.energy_mj)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return gpu.next("usage", gpu.usage_mw)

    def nvmlDeviceGetFieldValues(self, gpu: FakeGpu, ids: list[int]) -> list[SimpleNamespace]:
        assert ids == [pynvml.NVML_FI_DEV_POWER_INSTANT]
        if gpu.instant_mw is None:
            return [SimpleNamespace(nvmlReturn=pynvml.NVML_ERROR_NOT_SUPPORTED, valueType=0, value=None)]
        value = gpu.next("instant", gpu.instant_mw)
        return [SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, valueType=pynvml.NVML_VALUE_TYPE_UNSIGNED_INT,
                                value=SimpleNamespace(uiVal=value))]


class FakeCuda:
    """torch.cuda as one process sees it: of the host's GPUs in CUDA's order (`physical`, their UUIDs), those
    CUDA_VISIBLE_DEVICES (`visible`: indices into `physical`, UUIDs or UUID prefixes) lets through, in its order.
    Built once per process, like a CUDA context: a later change of the environment does not move it."""

    def __init__(self, physical: list[str], visible: str | None = None) -> None:
        entries = None if visible is None else [e.strip() for e in visible.split(",") if e.strip()]
        if entries is None:
            self.uuids = list(physical)
        else:
            self.uuids = [physical[int(e)] if e.isdigit() else next(u for u in physical if u.startswith(e))
                          for e in entries]
        self.initialized = False

    def init(self) -> None:
        self.initialized = True

    def is_initialized(self) -> bool:
        return self.initialized

    def is_available(self) -> bool:
        return bool(self.uuids)

    def device_count(self) -> int:
        return len(self.uuids)

    def get_device_properties(self, index: int) -> SimpleNamespace:
        return SimpleNamespace(uuid=self.uuids[index].removeprefix("GPU-"))  # torch prints the bare UUID


class ScriptedSource:
    """A source that replays energy (J) and power (W) readings; a SourceError in a script is raised."""

    def __init__(self, name: str, energy_j: list[Any] | None = None, power_w: list[Any] | None = None) -> None:
        self.name = name
        self.energy = list(energy_j) if energy_j is not None else None
        self.power = list(power_w) if power_w is not None else None
        self.closed = False

    @staticmethod
    def _next(script: list[Any] | None) -> Any:
        if script is None:
            return None
        value = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(value, SourceError):
            raise value
        return value

    def energy_j(self) -> float | None:
        return self._next(self.energy)

    def power_w(self) -> float | None:
        return self._next(self.power)

    def close(self) -> None:
        self.closed = True


def chain(*sources: ScriptedSource) -> list[tuple[str, Callable[[], ScriptedSource]]]:
    return [(s.name, (lambda s=s: s)) for s in sources]


class FakeProcess:
    """psutil.Process over a fake host (`host`: pid -> CPU seconds); `reads` counts every process it reads."""

    host: ClassVar[dict[int, float]] = {}  # pid -> CPU seconds
    reads = 0

    def __init__(self, pid: int) -> None:
        if pid not in self.host:
            raise psutil.NoSuchProcess(pid)
        self.pid = pid

    def cpu_times(self) -> SimpleNamespace:
        FakeProcess.reads += 1
        if self.pid not in self.host:
            raise psutil.NoSuchProcess(self.pid)
        return SimpleNamespace(user=self.host[self.pid], system=0.0, children_user=0.0, children_system=0.0)

    def children(self, recursive: bool = False) -> list[FakeProcess]:
        FakeProcess.reads += len(self.host)  # psutil reads every process's parent to find them
        return [FakeProcess(pid) for pid in self.host if pid != self.pid]
