"""CPU package and DRAM energy from the Linux powercap sysfs tree (Intel RAPL; recent AMD CPUs use it too).

Each zone has `energy_uj`, a counter of microjoules that wraps to 0 after `max_energy_range_uj`. The source
sums the packages (`package-N`) and their `dram` subzones; `core`, `uncore` and `psys` overlap those and are
left out. It must be read at least once per wrap period (minutes at full load); the sampler does that.

The tree is read from `/sys/class/powercap` (whose zones are links), or from wherever `[energy] powercap` or
`BNBENCH_POWERCAP` says: a container whose runtime masks the host's powercap tree mounts the real folder,
`/sys/devices/virtual/powercap`, elsewhere; there the zones are nested folders (`intel-rapl/intel-rapl:0/...`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bnbench.energy.source import RAPL, SourceError

POWERCAP = Path("/sys/class/powercap")
POWERCAP_ENV = "BNBENCH_POWERCAP"
_ZONE_DIR = re.compile(r"^intel-rapl:\d+(:\d+)?$")


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone: `path` is its folder, `name` e.g. 'package-0' or 'dram'."""

    path: Path
    name: str
    max_energy_range_uj: int

    def read_uj(self) -> int:
        """The counter now, in microjoules. SourceError (one line) when it cannot be read."""
        file = self.path / "energy_uj"
        try:
            return int(file.read_text().strip())
        except PermissionError:
            raise SourceError(
                f"RAPL: permission denied reading {file} (root is needed since CVE-2020-8694; "
                f"or `chmod a+r` the energy_uj files)"
            ) from None
        except (OSError, ValueError) as exc:
            raise SourceError(f"RAPL: cannot read {file} ({exc})") from None


@dataclass(frozen=True)
class ZoneStatus:
    """A zone as `bnbench devices` shows it: whether its counter can be read, and why not."""

    path: Path
    name: str
    counted: bool
    readable: bool
    reason: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def powercap_root(configured: str | Path | None = None) -> Path:
    """The powercap tree to read: `configured` (`[energy] powercap`), else $BNBENCH_POWERCAP, else the default."""
    chosen = configured or os.environ.get(POWERCAP_ENV)
    return Path(chosen).expanduser() if chosen else POWERCAP


def _zone_dirs(root: Path) -> list[Path]:
    """The zone folders under `root`, at any depth, each once, by name. Links are listed but not followed, so
    /sys/class/powercap's links and the nested folders they point to are both found, without loops."""
    found: dict[str, Path] = {}
    for folder, subfolders, _ in os.walk(root):
        for name in subfolders:
            if _ZONE_DIR.match(name):
                path = Path(folder) / name
                found.setdefault(os.path.realpath(path), path)
    return sorted(found.values(), key=lambda p: p.name)


def discover(root: Path | None = None) -> list[ZoneStatus]:
    """Every RAPL zone under `root` (None: `powercap_root()`), counted or not (core/uncore/psys overlap the
    packages), readable or not."""
    root = root or powercap_root()
    if not root.is_dir():
        return []
    statuses = []
    for path in _zone_dirs(root):
        name = _read(path / "name") or "?"
        counted = name.startswith("package") or name == "dram"
        try:
            RaplZone(path, name, 0).read_uj()
            readable, reason = True, ""
        except SourceError as exc:
            readable, reason = False, str(exc)
        statuses.append(ZoneStatus(path, name, counted, readable, reason))
    return statuses


def counted_zones(root: Path | None = None) -> list[RaplZone]:
    """The zones whose sum is the host's energy: packages and DRAM. SourceError if none or one is unreadable."""
    root = root or powercap_root()
    zones = []
    for status in discover(root):
        if not status.counted:
            continue
        if not status.readable:
            raise SourceError(status.reason)
        max_range = _read(status.path / "max_energy_range_uj")
        if max_range is None or not max_range.isdigit():
            raise SourceError(f"RAPL: cannot read {status.path / 'max_energy_range_uj'}")
        zones.append(RaplZone(status.path, status.name, int(max_range)))
    if not zones:
        raise SourceError(f"RAPL: no package zone under {root}")
    return zones


def unwrap_delta_uj(previous_uj: int, now_uj: int, max_energy_range_uj: int) -> int:
    """Microjoules between two readings of a counter that wraps to 0 after `max_energy_range_uj`."""
    delta = now_uj - previous_uj
    return delta + max_energy_range_uj if delta < 0 else delta


class RaplSource:
    """Host energy: the sum of the package and DRAM zones, unwrapped. No direct power reading."""

    name = RAPL

    def __init__(self, zones: list[RaplZone]) -> None:
        self.zones = zones
        self.previous_uj = [zone.read_uj() for zone in zones]
        self.total_uj = 0

    @classmethod
    def open(cls, root: Path | None = None) -> RaplSource:
        return cls(counted_zones(root))

    def energy_j(self) -> float:
        """Joules since the source opened (wraparounds unwrapped)."""
        for i, zone in enumerate(self.zones):
            now = zone.read_uj()
            self.total_uj += unwrap_delta_uj(self.previous_uj[i], now, zone.max_energy_range_uj)
            self.previous_uj[i] = now
        return self.total_uj / 1e6

    def power_w(self) -> None:
        return None

    def close(self) -> None:
        pass
