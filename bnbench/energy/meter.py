"""One device's running energy total, read from the best source that works, falling back when one fails.

A `DeviceMeter` keeps `total_j`, the joules counted since it opened: counter differences when its source has a
counter, the trapezoid of polled power otherwise. Windows (phases) are differences of `total_j` taken at their
edges, so the meter itself knows nothing of phases. `held_s` counts the seconds the device was charged to
the run: every second, or only this run's share of each stretch when its source is shared with other runs
(the idle baseline is charged on those seconds). Alongside, sampled power is integrated on its own
(`integral_j`) and compared with the counter over the same spans (`counter_span_j`): the cross-check the
reports show. Once every source has failed, `total_j` is NaN: an unmeasured stretch is unknown, never 0.
A counter that goes backwards (a driver reload or GPU reset starts it again) has that interval counted from
power instead, with one warning.

Not thread-safe on its own: `RunMeter` serializes the sampler thread and the window edges.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bnbench.energy.session_warnings import first_in_session
from bnbench.energy.source import NONE, EnergySource, SourceError

SourceFactory = Callable[[], EnergySource]
Clock = Callable[[], float]

_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Print a one-line warning to stderr, once per process for the same text, and once per session within
    `session_warnings.session_warnings()` (its pool workers stay quiet about what it already said)."""
    if message not in _warned:
        _warned.add(message)
        if not first_in_session(message):
            return
        # One write of the whole line: pool workers share the terminal, and print()'s two writes interleave.
        sys.stderr.write(f"bnbench: warning: {message}\n")
        sys.stderr.flush()


def trapezoid_j(power0_w: float, power1_w: float, duration_s: float) -> float:
    """Joules under a straight line from `power0_w` to `power1_w` over `duration_s`."""
    return 0.5 * (power0_w + power1_w) * duration_s


class DeviceMeter:
    """The energy of one device (`key`: 'cpu', 'cuda:0', 'host') from a chain of (label, factory), best first.

    Usable in any process: it holds only the sources it opened there. `warn` receives one-line messages when a
    source is unavailable or fails (default: stderr, once per process per message).
    """

    def __init__(
        self,
        key: str,
        chain: Sequence[tuple[str, SourceFactory]],
        clock: Clock = time.perf_counter,
        warn: Callable[[str], None] = warn_once,
        unavailable: str = "",
        gpu: Any = None,
        busy: Callable[[], float | None] | None = None,
    ) -> None:
        self.key, self.clock, self.warn = key, clock, warn
        self.gpu = gpu  # a GPU's identity (bnbench.energy.identity.GpuIdentity); None for the host
        self._busy = busy
        self.chain = list(chain)
        self.total_j = 0.0
        self.integral_j = 0.0
        self.counter_span_j = 0.0
        self.held_s = 0.0
        self._last_held: float | None = None
        self.sources_used: list[str] = []
        self.source: EnergySource | None = None
        self.last_power_w: float | None = None
        self.reads_power = False  # True once the source gave a power reading of its own (not derived)
        self._why = unavailable
        self._last_counter: float | None = None
        self._last_power: float | None = None
        self._last_t = 0.0
        self._sample: tuple[float, float | None, float | None] | None = None
        self._open_next(self.clock(), bridge=False)

    @property
    def label(self) -> str:
        """The weakest source this meter has used ('none' once all failed): what its figure is worth."""
        if self.source is None:
            return NONE
        return self.sources_used[-1]

    def _open_next(self, t: float, bridge: bool) -> None:
        self.source = None
        while self.chain:
            name, factory = self.chain.pop(0)
            try:
                source = factory()
                counter = source.energy_j()
                power = source.power_w() if counter is None else None
                if counter is None and power is None:
                    raise SourceError(f"{name}: gave neither energy nor power")
            except SourceError as exc:
                self._why = str(exc)
                following = self.chain[0][0] if self.chain else NONE
                self.warn(f"{self.key}: {name} unavailable ({exc}); using {following}")
                continue
            if bridge and self.last_power_w is not None:
                self.total_j += self.last_power_w * (t - self._last_t)  # the gap, at the last power seen
            if bridge:
                self.held_s += t - self._last_t
            self._last_held = getattr(source, "held_s", None)
            if getattr(source, "averaged", False):
                self.warn(f"{self.key}: {name} reads NVML's 1 s-averaged power (this GPU has no instantaneous "
                          "power field): it lags each change by up to a second, so a short phase is smeared into "
                          "its neighbours")
            self.source = source
            self.sources_used.append(name)
            self._last_counter, self._last_power, self._last_t = counter, power, t
            self._sample = None
            return
        if bridge or not self.sources_used:
            self.total_j = math.nan
        if not self.sources_used and not self._why:
            self.warn(f"{self.key}: no energy source; its energy is unknown")

    def busy_pct(self) -> float | None:
        """The GPU's busy % now (NVML utilization), None for the host or when the GPU does not say."""
        return self._busy() if self._busy is not None else None

    @property
    def counter_period_s(self) -> float | None:
        """How often the source's counter moves, in seconds, as measured when it opened; None when unknown."""
        return getattr(self.source, "period_s", None)

    @property
    def read_s(self) -> float | None:
        """What one reading of the source costs, in seconds, as measured when it opened; None when unknown."""
        return getattr(self.source, "read_s", None)

    @property
    def why_unavailable(self) -> str:
        """The last reason a source could not be used ('' when none failed)."""
        return self._why

    def tick(self, sample: bool = False) -> float | None:
        """Read the source and advance `total_j`. With `sample`, also return watts now (None if unknown)."""
        source = self.source
        if source is None:
            return None
        t = self.clock()
        try:
            counter = source.energy_j()
            power = source.power_w() if sample or counter is None else None
            if counter is None and power is None:
                raise SourceError(f"{source.name}: no reading")
        except SourceError as exc:
            self.warn(f"{self.key}: {source.name} failed mid-run ({exc}); falling back")
            source.close()
            self._open_next(t, bridge=True)
            return None
        if counter is not None:
            if self._last_counter is not None and counter < self._last_counter:
                self.total_j += self._reset_j(source, power, t)
            elif self._last_counter is not None:
                self.total_j += counter - self._last_counter
            self._last_counter = counter
        elif power is not None:
            if self._last_power is not None:
                self.total_j += trapezoid_j(self._last_power, power, t - self._last_t)
            self._last_power = power
        held = getattr(source, "held_s", None)
        if held is not None and self._last_held is not None:
            self.held_s += held - self._last_held
        else:
            self.held_s += t - self._last_t
        self._last_held = held
        self._last_t = t
        return self._take_sample(t, counter, power) if sample else None

    def _reset_j(self, source: EnergySource, power_w: float | None, t: float) -> float:
        """The joules of an interval over which the counter went backwards: its power, read now (or the last
        seen) and at the interval's start, trapezoid-integrated; NaN when no power is known at all."""
        self.warn(f"{self.key}: {source.name} went backwards (a driver reload or GPU reset restarted it); "
                  "that interval is counted from its power")
        if power_w is None:
            try:
                power_w = source.power_w()
            except SourceError:
                power_w = None
        before_w = self.last_power_w if self.last_power_w is not None else power_w
        after_w = power_w if power_w is not None else before_w
        if before_w is None or after_w is None:
            return math.nan
        return trapezoid_j(before_w, after_w, t - self._last_t)

    def _take_sample(self, t: float, counter: float | None, power: float | None) -> float | None:
        previous = self._sample
        if previous is not None and counter is not None and previous[1] is not None and counter < previous[1]:
            previous = (previous[0], None, previous[2])  # the counter restarted: no difference across it
        if power is not None:
            self.reads_power = True
        derive = power is None and counter is not None and previous is not None and previous[1] is not None
        if derive and t > previous[0]:  # type: ignore[index]
            power = (counter - previous[1]) / (t - previous[0])  # type: ignore[index,operator]  # from the counter
        if previous is not None and power is not None and previous[2] is not None:
            self.integral_j += trapezoid_j(previous[2], power, t - previous[0])
            if counter is not None and previous[1] is not None:
                self.counter_span_j += counter - previous[1]
        self._sample = (t, counter, power)
        if power is not None:
            self.last_power_w = power
        return power

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
