"""A GPU shared with other processes: each run is charged its share of the board, and other tenants are seen.

NVML's energy counter and busy % cover the whole board, whoever used it. A run's GPU source is therefore
wrapped: it keeps the GPU's ledger with the session's other runs on it (bnbench.energy.gpu_ledger), which about
once a second (`REFRESH_S`, and whenever a run starts or ends) lists the processes holding the GPU (compute,
graphics and MPS clients) and reads NVML's per-process utilization samples (SM % per process), and splits every
stretch of the board's joules once between them by `bnbench.energy.attribution.split_board_j`: idle power by
time share between the holders, the energy above idle by SM share (equally where the GPU gives no per-process
samples). The run is charged what its account received. Other users' processes are holders like the runs; a
process outside the session gets one warning naming its pid and GPU, and the share of readings in which one held
the GPU is kept (`gpu_shared`). Processes of the session with no run's meter open (the parent, a worker between
two runs) hold no share.

Where the listed pids are not this namespace's (a container that does not share the host's pid namespace), no
pid can be matched: the holders are then counted, the session's own being the runs it packs on this GPU, and the
board is split equally between them (said once).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnbench.energy.gpu_ledger import Ledger, LedgerStore, MemoryLedgerStore, Reading, Seen
from bnbench.energy.source import EnergySource, SourceError

REFRESH_S = 1.0
WHOLE, SM_SHARE, EQUAL, UNLISTED = "whole", "sm-share", "equal", "unlisted"
ATTRIBUTIONS = (WHOLE, SM_SHARE, EQUAL, UNLISTED)
"""`gpu_attribution`: alone on the GPU throughout; shared, split by SM activity; shared, split equally; NVML
listed other processes on the GPU but never this run's, so its share of the board is unknown and its GPU
energy NaN (an MPS client that the driver does not list, or a run that never used the GPU)."""


def _pid_exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}") if os.path.isdir("/proc") else True


class GpuTenants:
    """Reads the processes on one GPU and their SM activity through NVML (`api`: pynvml or a fake)."""

    def __init__(self, api: Any, handle: Any, exists: Callable[[int], bool] = _pid_exists) -> None:
        self.api, self.handle, self.exists = api, handle, exists
        self.supported = True

    def read(self, last_seen_us: int) -> Seen:
        """The listed pids, and SM % summed per pid over the samples newer than `last_seen_us`."""
        pids: set[int] = set()
        listers = (self.api.nvmlDeviceGetComputeRunningProcesses, self.api.nvmlDeviceGetGraphicsRunningProcesses,
                   # An MPS server's clients are listed by a call of their own (absent from old bindings).
                   getattr(self.api, "nvmlDeviceGetMPSComputeRunningProcesses", None))
        for list_processes in listers:
            if list_processes is None:
                continue
            try:
                pids.update(int(p.pid) for p in list_processes(self.handle))
            except self.api.NVMLError:
                continue
        sm: dict[int, float] = {}
        newest_us = last_seen_us
        if self.supported:
            try:
                samples = self.api.nvmlDeviceGetProcessUtilization(self.handle, last_seen_us)
            except self.api.NVMLError as exc:
                # NOT_FOUND: no sample since the last one seen; anything else: the GPU keeps none per process
                if getattr(exc, "value", None) not in (self.api.NVML_ERROR_NOT_FOUND, self.api.NVML_SUCCESS):
                    self.supported = False
                samples = []
            for sample in samples:
                pid = int(sample.pid)
                sm[pid] = sm.get(pid, 0.0) + float(sample.smUtil)
                newest_us = max(newest_us, int(sample.timeStamp))
        return Seen(pids, sm, newest_us, self.supported, all(self.exists(pid) for pid in pids))


@dataclass
class SharingTally:
    """What a run's shared GPU saw: readings of its holders, how many found a process outside the session, and
    the stretches it shared (with another holder) split by SM activity or equally."""

    readings: int = 0
    foreign_readings: int = 0
    shared_by_sm: int = 0
    shared_equally: int = 0
    own_listed: int = 0  # readings that listed this run's process
    others_only: int = 0  # readings that listed other processes and not this run's

    @property
    def gpu_shared(self) -> float:
        """The share of readings in which a process outside the session held the GPU; NaN before any."""
        return self.foreign_readings / self.readings if self.readings else math.nan

    @property
    def attribution(self) -> str:
        """How most of the shared stretches were split; `whole` when the run never shared its GPU; `unlisted` when
        NVML listed other processes but never this run's."""
        if self.unlisted:
            return UNLISTED
        if not self.shared_by_sm and not self.shared_equally:
            return WHOLE
        return SM_SHARE if self.shared_by_sm >= self.shared_equally else EQUAL

    @property
    def unlisted(self) -> bool:
        """Whether NVML listed other processes on the GPU and never this run's (its share is then unknown)."""
        return self.others_only > 0 and self.own_listed == 0

    def add(self, other: SharingTally) -> SharingTally:
        return SharingTally(*(a + b for a, b in zip(self.state(), other.state(), strict=True)))

    def state(self) -> tuple[int, int, int, int, int, int]:
        return (self.readings, self.foreign_readings, self.shared_by_sm, self.shared_equally, self.own_listed,
                self.others_only)


class SharedGpuSource:
    """A GPU source charged to this run by its account in the GPU's ledger (see the module doc). Same label as
    `inner`.

    `peers` (bnbench.energy.shared_host.Peers) names this run's and the session's processes; `idle_w` is the
    board's idle baseline (None: unknown, so all of a stretch is split by SM share); `store`: the ledger's store,
    shared with the session's other runs on this GPU (default: one of this source's own). `held_s`: the seconds
    of the board's idle power charged to this run so far. `tally`: what it saw, for runs.csv.
    """

    def __init__(
        self, inner: EnergySource, tenants: GpuTenants, peers: Any, idle_w: float | None, label: str,
        warn: Callable[[str], None], clock: Callable[[], float] = time.monotonic, refresh_s: float = REFRESH_S,
        store: LedgerStore | None = None,
    ) -> None:
        self.inner, self.tenants, self.peers = inner, tenants, peers
        self.label, self.warn = label, warn
        self.name = inner.name
        self.key = uuid.uuid4().hex
        self.ledger = Ledger(store or MemoryLedgerStore(), idle_w, tenants.read, clock, refresh_s, tenants.exists)
        self.tally = SharingTally()
        self.warned: set[int] = set()
        self.warned_namespace = False
        self.charged_j = 0.0
        self.held_s = 0.0
        self.share = 1.0  # this run's fraction of the last stretch's joules, for its power trace
        self.closed = False
        self._settle(joining=True)

    def _read(self) -> Reading:
        """The board now and who this run is: read under the ledger's lock, so readings stay in time order."""
        counter = self.inner.energy_j()
        power = self.inner.power_w() if counter is None else None
        if counter is None and power is None:
            raise SourceError(f"{self.name}: no reading")
        peers = self.peers
        return Reading(counter, power, peers.own_pids(), peers.session_pids(), frozenset(peers.quiet_pids),
                       peers.runs_per_gpu)

    def _settle(self, joining: bool = False, leaving: bool = False) -> None:
        account = self.ledger.settle(self.key, self._read, joining=joining, leaving=leaving)
        self.charged_j, self.held_s, self.share = account.charged_j, account.held_s, account.share
        self.tally = SharingTally(*account.tally)
        for pid in account.foreign:
            if pid not in self.warned:
                self.warned.add(pid)
                self.warn(f"{self.label}: process {pid}{_name(pid)} is not part of this session and uses the GPU; "
                          "this run is charged only its share of the board's energy")
        if account.namespace and not self.warned_namespace:
            self.warned_namespace = True
            self.warn(f"{self.label}: {account.namespace}")

    def energy_j(self) -> float:
        """Joules charged to this run since the source opened."""
        if not self.closed:
            self._settle()
        return self.charged_j

    @property
    def unknown(self) -> bool:
        """Whether this run's share of the board is unknown (NVML listed others, never it): its GPU joules are
        then NaN in the run's figures, not the nothing it was charged (bnbench.energy.run_meter)."""
        return self.tally.unlisted

    @property
    def period_s(self) -> float | None:
        """The board's counter period, as the wrapped source measured it (None: not measured)."""
        return getattr(self.inner, "period_s", None)

    @property
    def read_s(self) -> float | None:
        """What one read of the wrapped source costs (None: not timed)."""
        return getattr(self.inner, "read_s", None)

    @property
    def averaged(self) -> bool:
        """Whether the wrapped source's power is NVML's 1 s average."""
        return bool(getattr(self.inner, "averaged", False))

    def power_w(self) -> float | None:
        """The board's power now x this run's share of the last stretch (None when the board gives none)."""
        power = self.inner.power_w()
        return None if power is None else power * self.share

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            # A board that stopped answering: the run keeps what it was charged up to its last reading.
            with contextlib.suppress(SourceError):
                self._settle(leaving=True)
        if self.tally.unlisted:
            # Before its first CUDA call a run is rightly not listed; never, over a whole run, its share is unknown.
            self.warn(f"{self.label}: NVML listed other processes on the GPU but never this run's (an MPS client "
                      f"the driver does not list?), so its share of the board's energy is unknown "
                      f"(gpu_attribution = {UNLISTED})")
        self.inner.close()


def _name(pid: int) -> str:
    try:
        import psutil

        return f" ({psutil.Process(pid).name()})"
    except Exception:  # noqa: BLE001 - the name is a courtesy; a pid of another namespace or gone has none
        return ""


def sharing_state(parts: Any, carried: Any = None) -> dict[str, Any]:
    """What a run's shared devices saw so far (its parts' sources), with what an earlier attempt `carried`: for
    a checkpoint, and for `sharing_columns`."""
    carried = carried or {}
    tally = SharingTally(*carried.get("gpu", ()))  # a checkpoint of an older version kept four counts
    others_s, busy_s = float(carried.get("others_s", 0.0)), float(carried.get("busy_s", 0.0))
    gpus = bool(carried.get("gpus", False))
    for part in parts:
        source = getattr(part, "source", None)
        if getattr(part, "gpu", None) is not None:
            gpus = True
            if isinstance(source, SharedGpuSource):
                tally = tally.add(source.tally)
        others_s += float(getattr(source, "others_s", 0.0))
        busy_s += float(getattr(source, "busy_s", 0.0))
    return {"gpu": list(tally.state()), "others_s": others_s, "busy_s": busy_s, "gpus": gpus}


def sharing_columns(state: dict[str, Any]) -> dict[str, Any]:
    """runs.csv's `gpu_shared` (the share of readings in which a process outside the session held the run's GPU;
    NaN where unknown), `gpu_attribution` (whole, sm-share, equal or unlisted; empty for a CPU run) and
    `host_others_pct` (the % of the host's busy CPU time used by processes outside the session's runs; NaN where
    unknown)."""
    tally = SharingTally(*state["gpu"])
    busy_s = state["busy_s"]
    return {
        "gpu_shared": tally.gpu_shared,
        "gpu_attribution": tally.attribution if state["gpus"] else "",
        "host_others_pct": 100.0 * state["others_s"] / busy_s if busy_s > 0 else math.nan,
    }
