"""RAPL on a fixture powercap tree: which zones count, wraparound, unreadable counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnbench.energy import devices, rapl
from bnbench.energy.meter import DeviceMeter
from bnbench.energy.source import SourceError

MAX_UJ = 262_143_328_850  # a real package's max_energy_range_uj (about 262 kJ)


def zone(root: Path, folder: str, name: str, energy_uj: int, max_uj: int = MAX_UJ) -> Path:
    path = root / folder
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return path


@pytest.fixture
def powercap(tmp_path: Path) -> Path:
    root = tmp_path / "powercap"
    zone(root, "intel-rapl:0", "package-0", MAX_UJ - 1_000_000)  # 1 J before it wraps
    zone(root, "intel-rapl:0:0", "core", 5_000_000)
    zone(root, "intel-rapl:0:1", "dram", 2_000_000, max_uj=65_532_610_987)
    zone(root, "intel-rapl:1", "psys", 9_000_000)
    zone(root, "intel-rapl-mmio:0", "package-0", 7)
    return root


def set_uj(root: Path, folder: str, energy_uj: int) -> None:
    (root / folder / "energy_uj").write_text(f"{energy_uj}\n")


def test_packages_and_dram_count_the_rest_overlap(powercap: Path) -> None:
    statuses = {s.path.name: s for s in rapl.discover(powercap)}
    assert sorted(statuses) == ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1"]
    assert [n for n, s in statuses.items() if s.counted] == ["intel-rapl:0", "intel-rapl:0:1"]
    assert all(s.readable for s in statuses.values())


def test_wraparound(powercap: Path) -> None:
    source = rapl.RaplSource.open(powercap)
    # The package wraps: from MAX - 1 J to 2.5 J is 1 J + 2.5 J = 3.5 J; DRAM goes 2 J -> 3.25 J: 1.25 J.
    set_uj(powercap, "intel-rapl:0", 2_500_000)
    set_uj(powercap, "intel-rapl:0:1", 3_250_000)
    assert source.energy_j() == pytest.approx(4.75)
    # Then +10 J on the package, no wrap: 14.75 J in all.
    set_uj(powercap, "intel-rapl:0", 12_500_000)
    assert source.energy_j() == pytest.approx(14.75)
    assert source.power_w() is None


def test_unwrap_delta() -> None:
    assert rapl.unwrap_delta_uj(100, 250, 1000) == 150
    assert rapl.unwrap_delta_uj(900, 50, 1000) == 150  # 100 to the wrap point, then 50


def test_permission_denied_names_the_file_and_falls_back(powercap: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.read_text

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(SourceError, match=r"permission denied reading .*intel-rapl:0/energy_uj .*CVE-2020-8694"):
        rapl.RaplSource.open(powercap)
    warnings: list[str] = []
    meter = DeviceMeter("cpu", devices.host_chain(10.0, powercap), warn=warnings.append)
    assert meter.label == "estimate"
    assert warnings[0].startswith("cpu: rapl unavailable (RAPL: permission denied") and "using estimate" in warnings[0]
    report = devices.host_report(powercap=powercap)
    assert report.source == "estimate" and "permission denied" in report.note


def test_no_powercap_tree_and_no_estimate(tmp_path: Path) -> None:
    assert rapl.discover(tmp_path / "absent") == []
    warnings: list[str] = []
    meter = DeviceMeter("cpu", devices.host_chain(None, tmp_path / "absent"), warn=warnings.append)
    assert meter.label == "none"
    assert warnings == [f"cpu: rapl unavailable (RAPL: no package zone under {tmp_path / 'absent'}); using none"]


def test_host_report_with_rapl(powercap: Path) -> None:
    assert devices.host_report(powercap=powercap).source == "rapl"
