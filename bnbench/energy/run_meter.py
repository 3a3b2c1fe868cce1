"""A run's energy: the devices it used plus the host's share, split into phases.

Every moment of a run is in a named phase. The run driver opens windows around the train loop's work
('setup', 'warmup', 'train', 'eval', 'checkpoint'; the device is synchronized at both edges); whatever lies
in no open window (the process's start-up before the first window, the wind-down after the last) is charged
to 'setup'. At every edge each device meter is read; the joules since the previous edge go to the phase on
top of the window stack, so a window nested inside another (a checkpoint during training) is charged to
itself, not twice. Setup and warm-up are measured and reported but left out of the run's energy: they are
start-up, paid once per process, not the work being compared. The sampler thread calls `sample()`; both
paths hold one lock.

NVML's energy counter moves only every 20-100 ms (its period is measured when the meter opens), and its
reading lags the true total by 0 to one period. A window's raw counter difference therefore takes energy
from the phase before it at each edge: a few percent on long windows, most of it on short ones, and 0 J
on a window shorter than the period. For such a counter, power is also read at every edge (after the
synchronize, so it is the power of the work just done) and by the sampler in between; each phase is charged
its sampled power x seconds, all phases scaled by one factor, the counter's total over the sampled power's
total, so the phases add up to the counter and each gets its share by power. A counter whose power cannot
be read is split by its raw differences.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bnbench.energy.meter import Clock, DeviceMeter, warn_once
from bnbench.energy.source import NVML_COUNTER

SETUP = "setup"
PHASES = (SETUP, "warmup", "train", "eval", "checkpoint")
EXCLUDED_PHASES = (SETUP, "warmup")
"""Phases left out of `energy_j` and `measured_s`: start-up, paid once per process, not the work compared."""
HOST = "host"
COUNTER_UPDATE_S = 0.1  # the period assumed for a counter whose own could not be measured when it opened


@dataclass(frozen=True)
class PowerSample:
    """One row of power.parquet: `t_s` seconds since the run's meter started; `power_w` None when unknown;
    `busy_pct` the GPU's utilization (None for the host, or a GPU that does not report it)."""

    device: str
    t_s: float
    power_w: float | None
    phase: str | None
    busy_pct: float | None = None


@dataclass(frozen=True)
class RunEnergy:
    """A run's energy figures in joules. Anything unknown is NaN, never 0.

    `energy_j`: all parts, the measured phases (train, eval, checkpoint) only: setup and warm-up excluded.
    `phase_j`: per phase, all parts; every phase together is the whole run. `host_j`: the host CPU's part of
    `energy_j` (for a CPU run, all of it). `measured_s`: seconds in the measured phases. `idle_w`: the parts'
    summed idle power. `idle_j`: the idle baseline charged to the run: each part's idle watts x the seconds it
    held that part (all of `measured_s`, or its CPU-time share of them on a host shared with other runs).
    `integral_j` and `counter_span_j`: sampled power integrated, and the counters over the same spans (NaN
    without a counter).
    """

    energy_j: float
    energy_source: str
    phase_j: dict[str, float]
    host_j: float
    measured_s: float
    idle_w: float
    idle_j: float
    integral_j: float
    counter_span_j: float

    @property
    def net_j(self) -> float:
        """Energy above the idle baseline: energy_j - idle_j (NaN without a baseline)."""
        return self.energy_j - self.idle_j

    @property
    def discrepancy(self) -> float:
        """(integrated power - counter) / counter over the same spans: the sampler's error; NaN if no counter."""
        if not self.counter_span_j or math.isnan(self.counter_span_j):
            return math.nan
        return self.integral_j / self.counter_span_j - 1.0


def _sum(values: Sequence[float]) -> float:
    return math.fsum(values) if values else math.nan


class RunMeter:
    """The energy of one run, by part (device key) and phase.

    `parts` are the run's device meters (the host's share last, keyed 'host', for a GPU run). `idle_w` maps a
    part's key to its idle watts (missing or None: unknown, so net energy is NaN).

    Resuming a run: save `snapshot()` (a JSON-ready dict) with the checkpoint, and pass it back as
    `start_from=` when the run restarts. The joules already counted (per part and phase), the measured seconds
    and the sources used then start from those values, and what the restarted run measures is added to them;
    the time the run was down is not counted. A minimal offset is `{"phase_j": {"cpu": {"train": 1234.5}}}`:
    1234.5 J of training on the CPU part.
    """

    def __init__(
        self,
        parts: Sequence[DeviceMeter],
        idle_w: Mapping[str, float | None] | None = None,
        start_from: Mapping[str, Any] | None = None,
        clock: Clock = time.perf_counter,
        warn: Callable[[str], None] = warn_once,
    ) -> None:
        self.parts = list(parts)
        self.warn = warn
        self.idle_w = dict(idle_w or {})
        self.clock = clock
        self.lock = threading.Lock()
        self.stack: list[str] = []
        # Per part and phase: joules carried over from a resumed run, the counter's (or integral's) raw
        # differences, and sampled watts x seconds (right Riemann sum: each reading stands for the seconds
        # before it; only for a counter whose power is read, see the module's docstring).
        self.base_j = {p.key: dict.fromkeys(PHASES, 0.0) for p in self.parts}
        self.raw_j = {p.key: dict.fromkeys(PHASES, 0.0) for p in self.parts}
        self.power_j = {p.key: dict.fromkeys(PHASES, 0.0) for p in self.parts}
        self.phase_s = dict.fromkeys(PHASES, 0.0)
        self.held_s = {p.key: dict.fromkeys(PHASES, 0.0) for p in self.parts}
        self.earlier_sources: dict[str, list[str]] = {}
        self.offset_integral_j: dict[str, float] = {}
        self.offset_counter_span_j: dict[str, float] = {}
        if start_from:
            self._restore(start_from)
        self.t0 = clock()
        self._edge_t = self.t0
        self._edge_j = {p.key: p.total_j for p in self.parts}
        self._edge_held = {p.key: p.held_s for p in self.parts}
        self._power_t = {p.key: self.t0 for p in self.parts}
        # Sampled joules since the last edge: added to the open phase at the next edge, so the split always
        # weighs the counter and the sampled power over the same span (up to the last edge).
        self._pending_j = {p.key: 0.0 for p in self.parts}

    def _restore(self, state: Mapping[str, Any]) -> None:
        for key, phases in state.get("phase_j", {}).items():
            for phase, joules in phases.items():
                self.base_j.setdefault(key, dict.fromkeys(PHASES, 0.0))[phase] = float(joules)
        for phase, seconds in state.get("phase_s", {}).items():
            self.phase_s[phase] = float(seconds)
        # A snapshot from before held seconds were saved: every part held for every measured second.
        held = state.get("held_s", {p.key: self.phase_s for p in self.parts})
        for key, phases in held.items():
            for phase, seconds in phases.items():
                self.held_s.setdefault(key, dict.fromkeys(PHASES, 0.0))[phase] = float(seconds)
        self.earlier_sources = {k: list(v) for k, v in state.get("sources", {}).items()}
        self.offset_integral_j = {k: float(v) for k, v in state.get("integral_j", {}).items()}
        self.offset_counter_span_j = {k: float(v) for k, v in state.get("counter_span_j", {}).items()}

    def snapshot(self) -> dict[str, Any]:
        """Everything counted so far, to save with a checkpoint and pass back as `start_from`."""
        with self.lock:
            self._edge()
            return {
                "phase_j": self.phase_j,
                "phase_s": dict(self.phase_s),
                "held_s": {k: dict(v) for k, v in self.held_s.items()},
                "sources": {p.key: self._sources(p) for p in self.parts},
                "integral_j": {p.key: self.offset_integral_j.get(p.key, 0.0) + p.integral_j for p in self.parts},
                "counter_span_j": {
                    p.key: self.offset_counter_span_j.get(p.key, 0.0) + p.counter_span_j for p in self.parts
                },
            }

    def _sources(self, part: DeviceMeter) -> list[str]:
        used = [*self.earlier_sources.get(part.key, []), *part.sources_used]
        return [*used, "none"] if part.source is None else used

    @staticmethod
    def _by_power(part: DeviceMeter) -> bool:
        """True for a coarse counter whose power is read: its phases are split by sampled power."""
        return part.label == NVML_COUNTER and part.reads_power

    def _split(self, part: DeviceMeter) -> dict[str, float]:
        """Joules per phase of one part: carried over + measured here (see the module's docstring)."""
        key = part.key
        raw, sampled = self.raw_j[key], self.power_j[key]
        sampled_j = math.fsum(sampled.values())
        live = raw
        if self._by_power(part) and sampled_j > 0:
            scale = math.fsum(raw.values()) / sampled_j  # the counter's total over the sampled power's
            live = {phase: joules * scale for phase, joules in sampled.items()}
        return {phase: self.base_j[key].get(phase, 0.0) + live[phase] for phase in PHASES}

    @property
    def phase_j(self) -> dict[str, dict[str, float]]:
        """Joules per part and phase so far (up to the last edge)."""
        return {p.key: self._split(p) for p in self.parts}

    def _edge(self) -> None:
        """Read every part now and charge what was used since the last edge to the phase on top of the stack
        ('setup' when no window is open)."""
        coarse = {p.key: p.label == NVML_COUNTER for p in self.parts}
        powers = {p.key: p.tick(sample=coarse[p.key]) for p in self.parts}
        t = self.clock()
        span_s, phase = t - self._edge_t, self.phase
        self.phase_s[phase] += span_s
        for part in self.parts:
            key = part.key
            joules = part.total_j - self._edge_j[key]
            if coarse[key]:
                self._weigh(part, powers[key], t)
            self.power_j[key][phase] += self._pending_j[key]
            self._pending_j[key] = 0.0
            # A shared source reads its share at its own moment, a little off this edge: a run never holds its
            # device longer than the stretch lasted, or its idle charge would exceed the whole baseline.
            self.held_s[key][phase] += min(max(part.held_s - self._edge_held[key], 0.0), span_s)
            self.raw_j[key][phase] += joules
            period_s = part.counter_period_s or COUNTER_UPDATE_S
            if coarse[key] and self.stack and span_s < period_s and joules == 0 and not self._by_power(part):
                self.warn(f"{key}: a '{phase}' window shorter than the energy counter's update period "
                          f"({period_s * 1000:.0f} ms) read 0 J and no power reading can split it; its "
                          f"energy lands in the next window. Lengthen eval_every for a per-phase split")
        self._edge_t = t
        self._edge_j = {p.key: p.total_j for p in self.parts}
        self._edge_held = {p.key: p.held_s for p in self.parts}

    def _weigh(self, part: DeviceMeter, power_w: float | None, t: float) -> None:
        """Add the watts read at `t` (else the last seen; nothing when none is known) over the seconds since the
        last reading to what the next edge charges the open phase."""
        power_w = part.last_power_w if power_w is None else power_w
        self._pending_j[part.key] += (power_w or 0.0) * (t - self._power_t[part.key])
        self._power_t[part.key] = t

    def open(self, phase: str) -> None:
        """Open a window; call after the device is synchronized. ValueError for an unknown phase."""
        if phase not in PHASES:
            raise ValueError(f"unknown energy phase '{phase}' (phases: {', '.join(PHASES)})")
        with self.lock:
            self._edge()
            self.stack.append(phase)

    def close(self, phase: str) -> None:
        """Close the innermost window, which must be `phase`; call after the device is synchronized."""
        with self.lock:
            if not self.stack or self.stack[-1] != phase:
                raise ValueError(f"closing energy window '{phase}' but the open one is {self.stack[-1:] or 'none'}")
            self._edge()
            self.stack.pop()

    @property
    def phase(self) -> str:
        """The phase charged now: the innermost open window, else 'setup'."""
        return self.stack[-1] if self.stack else SETUP

    def sample(self) -> list[PowerSample]:
        """Read every part and return its power now (the sampler thread calls this at sample_hz)."""
        with self.lock:
            powers = [(p, p.tick(sample=True), p.busy_pct()) for p in self.parts]
            t = self.clock()
            for part, power, _ in powers:
                self._weigh(part, power, t)
            return [PowerSample(part.key, t - self.t0, power, self.phase, busy) for part, power, busy in powers]

    def power_w(self) -> float | None:
        """The run's watts at the last sample, all parts; None when a part's power is unknown."""
        powers = [p.last_power_w for p in self.parts]
        return None if not powers or any(p is None for p in powers) else math.fsum(powers)  # type: ignore[arg-type]

    def energy_j(self) -> float:
        """Joules so far, setup and warm-up excluded, the open window counted up to the last reading. NaN when
        unknown."""
        with self.lock:
            total = 0.0
            for part in self.parts:
                total += sum(j for phase, j in self._split(part).items() if phase not in EXCLUDED_PHASES)
                if self.stack and self.stack[-1] not in EXCLUDED_PHASES:
                    total += part.total_j - self._edge_j[part.key]
            return total if self.parts else math.nan

    @property
    def energy_source(self) -> str:
        """Each part's weakest source, joined by '+': 'nvml-counter+rapl', 'estimate', 'none'."""
        labels = []
        for part in self.parts:
            sources = self._sources(part) or ["none"]
            label = sources[-1]
            if label not in labels:
                labels.append(label)
        return "+".join(labels) or "none"

    def result(self) -> RunEnergy:
        """The run's figures so far (call after the last window closed)."""
        with self.lock:
            self._edge()
            keys = [p.key for p in self.parts]
            counted = [ph for ph in PHASES if ph not in EXCLUDED_PHASES]
            by_part = self.phase_j
            # A part whose source cannot say this run's share (a shared GPU that never listed the run) is unknown,
            # not the nothing it was charged.
            unknown = {p.key for p in self.parts if getattr(getattr(p, "source", None), "unknown", False)}
            phase_j = {ph: _sum([math.nan if k in unknown else by_part[k][ph] for k in keys]) for ph in PHASES}
            host_key = HOST if HOST in keys else ("cpu" if keys == ["cpu"] else None)
            idle = [self.idle_w.get(k) for k in keys]
            held = [math.fsum(self.held_s[k][ph] for ph in counted) for k in keys]
            spans = [self.offset_counter_span_j.get(p.key, 0.0) + p.counter_span_j for p in self.parts
                     if p.counter_span_j or self.offset_counter_span_j.get(p.key)]
            integrals = [self.offset_integral_j.get(p.key, 0.0) + p.integral_j for p in self.parts
                         if p.counter_span_j or self.offset_counter_span_j.get(p.key)]
        return RunEnergy(
            energy_j=_sum([phase_j[ph] for ph in counted]),
            energy_source=self.energy_source,
            phase_j=phase_j,
            host_j=_sum([by_part[host_key][ph] for ph in counted]) if host_key else math.nan,
            measured_s=math.fsum(self.phase_s[ph] for ph in counted),
            idle_w=math.nan if not idle or any(w is None for w in idle) else math.fsum(idle),  # type: ignore[arg-type]
            idle_j=math.nan if not idle or any(w is None for w in idle)
            else math.fsum(w * s for w, s in zip(idle, held, strict=True)),  # type: ignore[operator]
            integral_j=_sum(integrals),
            counter_span_j=_sum(spans),
        )

    def close_parts(self) -> None:
        for part in self.parts:
            part.close()
