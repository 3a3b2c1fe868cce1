"""Where RAPL is read from: /sys/class/powercap's links, the nested folder a container mounts elsewhere, and the
root chosen by `[energy] powercap` or BNBENCH_POWERCAP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.energy import devices, rapl
from bnbench.scenario import EnergyConfig

from .test_rapl import zone


@pytest.fixture
def virtual(tmp_path: Path) -> Path:
    """A copy of /sys/devices/virtual/powercap: zones nested under their control type and their package."""
    root = tmp_path / "devices" / "virtual" / "powercap"
    zone(root, "intel-rapl/intel-rapl:0", "package-0", 10_000_000)
    zone(root, "intel-rapl/intel-rapl:0/intel-rapl:0:0", "core", 4_000_000)
    zone(root, "intel-rapl/intel-rapl:0/intel-rapl:0:1", "dram", 1_000_000)
    zone(root, "intel-rapl/intel-rapl:1", "package-1", 20_000_000)
    zone(root, "intel-rapl-mmio/intel-rapl-mmio:0", "package-0", 7)  # MMIO view of package 0: not counted
    return root


def test_a_nested_tree_is_read_at_any_depth(virtual: Path) -> None:
    statuses = {s.path.name: s.counted for s in rapl.discover(virtual)}
    assert statuses == {"intel-rapl:0": True, "intel-rapl:0:0": False, "intel-rapl:0:1": True, "intel-rapl:1": True}
    source = rapl.RaplSource.open(virtual)
    (virtual / "intel-rapl/intel-rapl:0/energy_uj").write_text("12500000\n")  # +2.5 J
    (virtual / "intel-rapl/intel-rapl:0/intel-rapl:0:1/energy_uj").write_text("1500000\n")  # +0.5 J
    (virtual / "intel-rapl/intel-rapl:0/intel-rapl:0:0/energy_uj").write_text("9000000\n")  # core: not counted
    (virtual / "intel-rapl/intel-rapl:1/energy_uj").write_text("21000000\n")  # +1 J
    assert source.energy_j() == pytest.approx(4.0)  # 2.5 + 0.5 + 1


def test_class_links_count_each_zone_once(virtual: Path, tmp_path: Path) -> None:
    # /sys/class/powercap holds one link per zone (and per control type) into the nested tree.
    links = tmp_path / "class" / "powercap"
    links.mkdir(parents=True)
    for target in ("intel-rapl", "intel-rapl/intel-rapl:0", "intel-rapl/intel-rapl:0/intel-rapl:0:0",
                   "intel-rapl/intel-rapl:0/intel-rapl:0:1", "intel-rapl/intel-rapl:1"):
        os.symlink(virtual / target, links / Path(target).name)
    names = [s.path.name for s in rapl.discover(links)]
    assert names == ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1"]
    assert [z.name for z in rapl.counted_zones(links)] == ["package-0", "dram", "package-1"]


def test_the_root_comes_from_the_scenario_then_the_environment(virtual: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rapl.POWERCAP_ENV, raising=False)
    assert rapl.powercap_root() == Path("/sys/class/powercap")
    monkeypatch.setenv(rapl.POWERCAP_ENV, str(virtual))
    assert rapl.powercap_root() == virtual
    assert devices.open_device_meter("cpu", EnergyConfig()).label == "rapl"
    # The scenario's key wins over the environment: an empty folder there means no RAPL, and the estimate.
    empty = tmp_path / "empty"
    empty.mkdir()
    meter = devices.open_device_meter("cpu", EnergyConfig(powercap=str(empty)), warn=lambda _: None)
    assert meter.label == "estimate"


def test_devices_reads_the_root_named_by_the_environment(virtual: Path) -> None:
    result = CliRunner().invoke(app, ["devices"], env={rapl.POWERCAP_ENV: str(virtual)})
    assert result.exit_code == 0, result.output
    assert "intel-rapl:0:1" in result.output and "energy source rapl" in result.output
