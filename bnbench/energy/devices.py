"""Which sources each device gets, opening meters for a run, and what `bnbench devices` reports.

Chains, best first:
- a CUDA GPU: nvml-counter, nvml-power (nothing for a MIG slice or without a driver);
- the host CPU (a CPU run's device, and the host's share of a GPU run): rapl, then estimate (unless
  `[energy] estimate = false`).
Everything here works in the process that calls it, so a worker process opens its own meters.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.energy import identity, nvml, rapl, shared_host
from bnbench.energy.estimate import CpuEstimateSource, process_cpu_s
from bnbench.energy.meter import Clock, DeviceMeter, SourceFactory, warn_once
from bnbench.energy.run_meter import HOST, RunMeter
from bnbench.energy.source import ESTIMATE, NONE, RAPL, EnergySource, SourceError
from bnbench.units import DEFAULT_W_PER_CORE

if TYPE_CHECKING:
    from bnbench.scenario import EnergyConfig


def host_chain(
    estimate_w_per_core: float | None = DEFAULT_W_PER_CORE, powercap: Path | None = None, children_only: bool = False
) -> list[tuple[str, SourceFactory]]:
    """RAPL (under `powercap`, default `rapl.powercap_root()`), then the CPU-time estimate (None: disabled) of
    this process and its children, or with `children_only` of its children alone (a command's processes)."""
    root = powercap or rapl.powercap_root()
    chain: list[tuple[str, SourceFactory]] = [(RAPL, lambda: _host_rapl(root))]
    if estimate_w_per_core is not None:
        chain.append((ESTIMATE, lambda: CpuEstimateSource(
            estimate_w_per_core, cpu_s=process_cpu_s(own=False) if children_only else None)))
    return chain


def _host_rapl(root: Path) -> EnergySource:
    """RAPL for this run: its CPU-time share of the package where a process trains runs (shared_host.Peers set),
    else the whole package (the idle baseline)."""
    source = rapl.RaplSource.open(root)
    peers = shared_host.current_peers()
    return source if peers is None else shared_host.SharedHostSource(source, peers)


MIG_REASON = "NVML reports no energy per MIG slice"


def _mig_named(cuda_index: int, cuda: Any = None) -> bool:
    """Whether CUDA device `cuda_index` of this process is a MIG slice (its UUID, or the entry naming it)."""
    entries = identity.visible_entries(os.environ.get("CUDA_VISIBLE_DEVICES"))
    if entries is not None and cuda_index < len(entries) and entries[cuda_index].startswith("MIG-"):
        return True
    uuid = identity.torch_uuid(cuda_index, cuda)
    return bool(uuid and uuid.startswith("MIG-"))


def _shared(chain: list[tuple[str, SourceFactory]], api: Any, gpu: identity.GpuIdentity, idle_w: float | None,
            key: str, warn: Callable[[str], None]) -> list[tuple[str, SourceFactory]]:
    """`chain` with each source charged to this run by its share of the board, where a process trains runs."""
    peers = shared_host.current_peers()
    if peers is None:
        return chain
    from bnbench.energy.gpu_ledger import ledger_store
    from bnbench.energy.shared_gpu import GpuTenants, SharedGpuSource

    label = f"{key} ({gpu.uuid})"

    def wrap(factory: SourceFactory) -> SourceFactory:
        # One ledger per GPU for the whole session, so the runs on it split each stretch of its board once.
        return lambda: SharedGpuSource(factory(), GpuTenants(api, gpu.handle), peers, idle_w, label, warn,
                                       store=ledger_store(gpu.uuid, peers.ledger_dir))

    return [(name, wrap(factory)) for name, factory in chain]


def gpu_chain(
    cuda_index: int, api: Any = None, cuda: Any = None,
) -> tuple[list[tuple[str, SourceFactory]], str, identity.GpuIdentity | None]:
    """The sources for CUDA device `cuda_index` of this process, why there are none, and which GPU it is.

    The device is matched to its NVML handle by UUID (bnbench.energy.identity); `cuda` stands for torch.cuda.
    GpuMismatch (a UserError) when torch's device is not the GPU CUDA_VISIBLE_DEVICES names.
    """
    try:
        api = api or nvml.load_nvml()
        gpu = identity.identify_here(api, cuda_index, cuda)
    except SourceError as exc:
        return [], MIG_REASON if _mig_named(cuda_index, cuda) else str(exc), None
    chain = nvml.gpu_chain(api, gpu.handle)
    return chain, "" if chain else MIG_REASON, gpu


def open_device_meter(
    key: str, config: EnergyConfig | None = None, clock: Clock = time.perf_counter,
    warn: Callable[[str], None] = warn_once, nvml_api: Any = None, idle_w: float | None = None,
    children_only: bool = False,
) -> DeviceMeter:
    """A meter for 'cpu', 'host' (both the host CPU) or 'cuda:N', with the chain its config allows (see
    host_chain for `children_only`).

    Where a process trains runs (bnbench.energy.shared_host.Peers set), the host and a GPU are charged by this
    run's share of them; `idle_w`, the GPU's idle baseline, splits its board by time share (None: unknown)."""
    w_per_core = _w_per_core(config)
    if key in ("cpu", HOST):
        return DeviceMeter(key, host_chain(w_per_core, powercap_of(config), children_only), clock=clock, warn=warn)
    if key.startswith("cuda"):
        chain, why, gpu = gpu_chain(int(key.partition(":")[2] or 0), nvml_api)
        if not chain:
            warn(f"{key}: no energy source ({why}); its energy is unknown")
        api = nvml_api or (nvml.load_nvml() if gpu is not None else None)
        busy = nvml.busy_reader(api, gpu.handle) if gpu is not None else None
        if gpu is not None:
            chain = _shared(chain, api, gpu, idle_w, key, warn)
        return DeviceMeter(key, chain, clock=clock, warn=warn, unavailable=why, gpu=gpu, busy=busy)
    raise ValueError(f"no energy meter for device '{key}'")


def nvml_gpu_meters(api: Any = None, warn: Callable[[str], None] = warn_once) -> list[DeviceMeter]:
    """A meter for every GPU NVML sees, keyed by its UUID: for a baseline taken before any CUDA device is
    chosen (a Ray node's idle watts), when no CUDA numbering applies. Empty without NVML."""
    try:
        api = api or nvml.load_nvml()
    except SourceError:
        return []
    try:
        handles = [api.nvmlDeviceGetHandleByIndex(i) for i in range(api.nvmlDeviceGetCount())]
        gpus = [identity.GpuIdentity(uuid, uuid, identity.name_of(api, h), h)
                for h in handles for uuid in [identity.uuid_of(api, h)]]
    except api.NVMLError:
        return []
    return [DeviceMeter(g.uuid, nvml.gpu_chain(api, g.handle), warn=warn, gpu=g) for g in gpus]


def powercap_of(config: EnergyConfig | None) -> Path:
    """The powercap tree a run with `config` reads: `[energy] powercap`, else $BNBENCH_POWERCAP, else the default."""
    return rapl.powercap_root(config.powercap if config is not None else None)


def _w_per_core(config: EnergyConfig | None) -> float | None:
    if config is None:
        return DEFAULT_W_PER_CORE
    return config.estimate_w_per_core if config.estimate else None


def run_parts(device: str) -> list[str]:
    """The parts a run on `device` is charged for: the device itself, and for a GPU the host's share."""
    return ["cpu"] if device == "cpu" else [device, HOST]


def open_run_meter(
    device: str,
    config: EnergyConfig | None = None,
    idle_w: Mapping[str, float | None] | None = None,
    start_from: Mapping[str, Any] | None = None,
    clock: Clock = time.perf_counter,
    warn: Callable[[str], None] = warn_once,
    nvml_api: Any = None,
    children_only: bool = False,
) -> RunMeter:
    """The meter of one run on `device` ('cpu' or 'cuda:N'); see RunMeter for `start_from` (resuming).

    A GPU run's host share is left out when no host source works (its energy is then the GPU's alone). With
    `children_only` (a command's run) the CPU estimate counts this process's children, not this process.
    """
    parts = [open_device_meter(k, config, clock, warn, nvml_api, (idle_w or {}).get(k), children_only)
             for k in run_parts(device)]
    parts = [p for p in parts if p.key != HOST or p.source is not None]
    return RunMeter(parts, idle_w=idle_w, start_from=start_from, clock=clock, warn=warn)


@dataclass(frozen=True)
class HostReport:
    zones: list[rapl.ZoneStatus]
    source: str
    note: str


def host_report(config: EnergyConfig | None = None, powercap: Path | None = None) -> HostReport:
    """The RAPL zones and the source the host CPU will use, with the reason when RAPL is not it."""
    powercap = powercap or powercap_of(config)
    zones = rapl.discover(powercap)
    try:
        rapl.counted_zones(powercap)
        return HostReport(zones, RAPL, "")
    except SourceError as exc:
        w_per_core = _w_per_core(config)
        if w_per_core is None:
            return HostReport(zones, NONE, f"{exc}; estimation is disabled ([energy] estimate = false)")
        return HostReport(zones, ESTIMATE, f"{exc}; estimating {w_per_core:g} W per busy core x process CPU time")


def gpu_report(api: Any = None) -> tuple[list[nvml.GpuInfo], str]:
    """Every GPU NVML sees, or an empty list and why (no driver, no library)."""
    try:
        api = api or nvml.load_nvml()
        return nvml.inventory(api), ""
    except SourceError as exc:
        return [], str(exc)


def gpu_manifest(api: Any = None) -> list[dict[str, Any]]:
    """The GPUs for manifest.json: name, UUID, architecture, driver, power limit and energy source each."""
    gpus, _ = gpu_report(api)
    return [{**g.__dict__, "energy_source": g.source, "power_reading": g.power_reading} for g in gpus]
