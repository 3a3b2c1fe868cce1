"""What a power or energy sensor looks like to a meter, and the names of the sources.

A source reads one device. It offers a cumulative energy counter, an instantaneous power reading, or both;
a reading it cannot take raises `SourceError`, and the meter falls back to the next source in its chain.
"""

from __future__ import annotations

from typing import Protocol

NVML_COUNTER = "nvml-counter"
NVML_POWER = "nvml-power"
RAPL = "rapl"
ESTIMATE = "estimate"
NONE = "none"

SOURCES = (NVML_COUNTER, NVML_POWER, RAPL, ESTIMATE, NONE)
"""Every value a part of `energy_source` may take, best first."""


class SourceError(Exception):
    """A reading could not be taken. The message is one line naming the device, the call and what to do."""


class EnergySource(Protocol):
    """One sensor on one device.

    `name` is the label written to `energy_source`. `energy_j` returns joules counted since an origin of the
    source's choosing (only differences mean anything), or None when the source has no counter.
    `power_w` returns watts now, or None when the source has no direct power reading (the meter then derives
    power from counter differences). Both raise SourceError when the sensor fails.

    A source shared with other runs (`bnbench.energy.shared_host`) also has `held_s`: the seconds of its device
    charged to this run so far, its share of each stretch; a source without it holds its device whole.
    """

    name: str

    def energy_j(self) -> float | None: ...

    def power_w(self) -> float | None: ...

    def close(self) -> None: ...


def is_estimate(energy_source: str) -> bool:
    """True when any part of an `energy_source` label ('nvml-counter+estimate') is an estimate."""
    return ESTIMATE in str(energy_source).split("+")


def is_measured(energy_source: str) -> bool:
    """True when every part of the label is a sensor reading: no estimate, nothing unknown."""
    parts = str(energy_source).split("+")
    return all(p in (NVML_COUNTER, NVML_POWER, RAPL) for p in parts)
