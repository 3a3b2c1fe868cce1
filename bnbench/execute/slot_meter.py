"""The meter of a run in a pool slot: the slot's own devices, each once, named as the worker sees them.

A worker pinned by CUDA_VISIBLE_DEVICES sees its GPUs as cuda:0, cuda:1, ...; the idle baseline in the
manifest was measured by the parent under their real names, so it is looked up under those. A DDP run's rank 0
meters every GPU of the run (and the host once); on the CPU the host is one meter for all ranks, and its
CPU-time estimate counts the CPU time of every rank's process, not rank 0's alone. The host's idle watts
are the whole package's: where the pool shares the package, the run's meter charges them only on its share of
each stretch (`DeviceMeter.held_s`), as it charges the package's joules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bnbench.energy.devices import open_device_meter, open_run_meter
from bnbench.energy.meter import DeviceMeter
from bnbench.energy.run_meter import HOST, RunMeter


def cpu_seconds_of(pids: tuple[int, ...]) -> Any:
    """A reader of the summed CPU seconds (user + system, children included) of processes `pids`."""
    from bnbench.energy.estimate import process_cpu_s

    readers = [process_cpu_s(pid, walk=False) for pid in pids]  # as the pool's sum reads them (shared_host)
    return lambda: sum(read() for read in readers)


@dataclass(frozen=True)
class SlotMeter:
    """Opens a run's meter like `open_run_meter`, for a slot: `devices` as rank 0 sees them, `names` their real
    names, `pids` every rank's process (for the CPU-time estimate)."""

    devices: tuple[str, ...]
    names: dict[str, str]
    pids: tuple[int, ...] = ()

    def __call__(
        self, device: str, config: Any = None, idle_w: Mapping[str, float | None] | None = None,
        start_from: Mapping[str, Any] | None = None,
    ) -> RunMeter:
        idle = {seen: (idle_w or {}).get(real) for seen, real in self.names.items() if seen.startswith("cuda")}
        idle.update({k: v for k, v in (idle_w or {}).items() if k in ("cpu", HOST)})
        unique = tuple(dict.fromkeys(self.devices))
        if unique == (device,) and len(self.pids) <= 1:
            return open_run_meter(device, config, idle_w=idle, start_from=start_from)
        if unique == ("cpu",):
            parts = [self._host("cpu", config)]
        else:
            parts = [open_device_meter(d, config, idle_w=idle.get(d)) for d in unique]
            host = open_device_meter(HOST, config)
            parts += [host] if host.source is not None else []
        return RunMeter(parts, idle_w=idle, start_from=start_from)

    def _host(self, key: str, config: Any) -> DeviceMeter:
        """The host CPU for all ranks: RAPL (the whole package), else the estimate over every rank's CPU time."""
        from bnbench.energy.devices import host_chain, powercap_of
        from bnbench.energy.estimate import CpuEstimateSource
        from bnbench.energy.source import ESTIMATE
        from bnbench.units import DEFAULT_W_PER_CORE

        chain = host_chain(None, powercap_of(config))
        w_per_core = DEFAULT_W_PER_CORE if config is None else config.estimate_w_per_core if config.estimate else None
        if w_per_core is not None:
            reader = cpu_seconds_of(self.pids)
            chain.append((ESTIMATE, lambda: CpuEstimateSource(w_per_core, cpu_s=reader)))
        return DeviceMeter(key, chain)
