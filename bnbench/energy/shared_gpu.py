"""A GPU shared with other processes: each run is charged its share of the board, and other tenants are seen.

NVML's energy counter and busy % cover the whole board, whoever used it. A run's GPU source is therefore
wrapped: about once a second (`REFRESH_S`) it lists the processes holding the GPU (compute and graphics) and
reads NVML's per-process utilization samples (SM % per process), and over every stretch between two readings it
is charged its part of the board's joules by `bnbench.energy.attribution.split_board_j`: idle power by time
share between the holders, the energy above idle by SM share (equally where the GPU gives no per-process
samples). Processes of the session's other runs and of other users are holders like this run; a process outside
the session gets one warning naming its pid and GPU, and the share of readings in which one held the GPU is kept
(`gpu_shared`).

Where the listed pids are not this namespace's (a container that does not share the host's pid namespace), no
pid can be matched: the holders are then counted, the session's own being the runs it packs on this GPU, and the
board is split equally between them (said once).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bnbench.energy.attribution import split_board_j
from bnbench.energy.source import EnergySource, SourceError

REFRESH_S = 1.0
WHOLE, SM_SHARE, EQUAL, UNLISTED = "whole", "sm-share", "equal", "unlisted"
ATTRIBUTIONS = (WHOLE, SM_SHARE, EQUAL, UNLISTED)
"""`gpu_attribution`: alone on the GPU throughout; shared, split by SM activity; shared, split equally; NVML
listed other processes on the GPU but never this run's, so its share of the board is unknown and its GPU
energy NaN (an MPS client that the driver does not list, or a run that never used the GPU)."""
OWN = "own"


def _pid_exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}") if os.path.isdir("/proc") else True


@dataclass
class Tenants:
    """Who held a GPU at the last reading: `pids` (every listed process), `sm` (SM % summed over the samples
    since the reading before, by pid; empty when none came), `samples` (False: the GPU gives no per-process
    samples), `matched` (False: a listed pid is no process of this namespace; where none of them is the
    session's either, they are taken to be another namespace's)."""

    pids: set[int] = field(default_factory=set)
    sm: dict[int, float] = field(default_factory=dict)
    samples: bool = True
    matched: bool = True


class GpuTenants:
    """Reads the processes on one GPU and their SM activity through NVML (`api`: pynvml or a fake)."""

    def __init__(self, api: Any, handle: Any, exists: Callable[[int], bool] = _pid_exists) -> None:
        self.api, self.handle, self.exists = api, handle, exists
        self.last_seen_us = 0
        self.supported = True

    def read(self) -> Tenants:
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
        if self.supported:
            try:
                samples = self.api.nvmlDeviceGetProcessUtilization(self.handle, self.last_seen_us)
            except self.api.NVMLError as exc:
                # NOT_FOUND: no sample since the last one seen; anything else: the GPU keeps none per process
                if getattr(exc, "value", None) not in (self.api.NVML_ERROR_NOT_FOUND, self.api.NVML_SUCCESS):
                    self.supported = False
                samples = []
            for sample in samples:
                pid = int(sample.pid)
                sm[pid] = sm.get(pid, 0.0) + float(sample.smUtil)
                self.last_seen_us = max(self.last_seen_us, int(sample.timeStamp))
        return Tenants(pids, sm, self.supported, all(self.exists(pid) for pid in pids))


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
    """A GPU source charged to this run by its share of each stretch (see the module doc). Same label as `inner`.

    `peers` (bnbench.energy.shared_host.Peers) names this run's and the session's processes; `idle_w` is the
    board's idle baseline (None: unknown, so all of a stretch is split by SM share). `held_s`: the seconds of the
    board's idle power charged to this run so far. `tally`: what it saw, for runs.csv.
    """

    def __init__(
        self, inner: EnergySource, tenants: GpuTenants, peers: Any, idle_w: float | None, label: str,
        warn: Callable[[str], None], clock: Callable[[], float] = time.perf_counter, refresh_s: float = REFRESH_S,
    ) -> None:
        self.inner, self.tenants, self.peers, self.idle_w = inner, tenants, peers, idle_w
        self.label, self.warn, self.clock, self.refresh_s = label, warn, clock, refresh_s
        self.name = inner.name
        self.tally = SharingTally()
        self.warned: set[int] = set()
        self.warned_namespace = False
        self.last_t = clock()
        self.last_power_w: float | None = None
        self.last_total_j = 0.0
        self.last_total_j = self._board_j(self.last_t)
        self.charged_j = 0.0
        self.held_s = 0.0
        self.share = 1.0  # this run's fraction of the last stretch's joules, for its power trace
        self.read_at = -math.inf
        self.holders: list[object] = []
        self.sm: dict[object, float] = {}
        self._refresh(self.last_t)

    def _board_j(self, t: float) -> float:
        """The board's joules: its counter, or its power integrated here when it has only power."""
        counter = self.inner.energy_j()
        if counter is not None:
            return counter
        power = self.inner.power_w()
        if power is None:
            raise SourceError(f"{self.name}: no reading")
        total_j = self.last_total_j
        if self.last_power_w is not None:
            total_j += 0.5 * (self.last_power_w + power) * (t - self.last_t)  # trapezoid since the last reading
        self.last_power_w = power
        return total_j

    def _refresh(self, t: float) -> None:
        """Read the GPU's holders and their SM activity again, at most once every `refresh_s`."""
        if t - self.read_at < self.refresh_s:
            return
        self.read_at = t
        seen = self.tenants.read()
        own, session = self.peers.own_pids(), self.peers.session_pids() | set(self.peers.quiet_pids)
        self.tally.readings += 1
        if not seen.matched and not seen.pids & (own | session):
            # Pids from another namespace: count them. The session's processes here are its runs on this GPU.
            ours = max(self.peers.runs_per_gpu, 1)
            foreign = max(len(seen.pids) - ours, 0)
            self.tally.foreign_readings += foreign > 0
            if not self.warned_namespace:
                self.warned_namespace = True
                self.warn(f"{self.label}: NVML lists processes of another pid namespace (a container?), so they "
                          f"cannot be matched to this session's: {len(seen.pids)} process(es) on the GPU against "
                          f"{ours} of this session's runs; each is charged an equal share")
            self.holders = [OWN, *(f"other-{i}" for i in range(max(len(seen.pids), ours) - 1))]
            self.sm = {}
            return
        foreign = sorted(seen.pids - session - own)
        self.tally.foreign_readings += bool(foreign)
        for pid in foreign:
            if pid not in self.warned:
                self.warned.add(pid)
                self.warn(f"{self.label}: process {pid}{_name(pid)} is not part of this session and uses the GPU; "
                          "this run is charged only its share of the board's energy")
        mine = own & seen.pids
        self.tally.own_listed += bool(mine)
        self.tally.others_only += bool(seen.pids) and not mine
        others = [pid for pid in sorted(seen.pids - own) if pid not in self.peers.quiet_pids]
        # Nobody listed (a driver that lists no processes): this run is taken to hold the GPU alone, as before.
        self.holders = ([OWN] if mine or not seen.pids else []) + others
        if not seen.samples:
            self.sm = {}
        elif seen.sm:  # no sample since the last reading: the last weights stand
            self.sm = {OWN: sum(seen.sm.get(pid, 0.0) for pid in mine), **{p: seen.sm.get(p, 0.0) for p in others}}

    def energy_j(self) -> float:
        """Joules charged to this run since the source opened."""
        t = self.clock()
        total_j = self._board_j(t)
        self._refresh(t)
        split = split_board_j(total_j - self.last_total_j, t - self.last_t, self.idle_w, self.holders, self.sm)
        if len(self.holders) > 1 and OWN in self.holders:
            if split.by_sm:
                self.tally.shared_by_sm += 1
            else:
                self.tally.shared_equally += 1
        mine_j = split.charged_j.get(OWN, 0.0)
        board_j = total_j - self.last_total_j
        self.share = min(max(mine_j / board_j, 0.0), 1.0) if board_j > 0 else self.share
        self.charged_j += mine_j
        self.held_s += split.held_s.get(OWN, 0.0)
        self.last_total_j, self.last_t = total_j, t
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
