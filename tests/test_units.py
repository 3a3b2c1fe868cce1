"""Conversions against figures worked out by hand."""

from __future__ import annotations

import math

import pytest

from bnbench import units


def test_the_papers_arithmetic() -> None:
    # 1.5 kW x 12 h = 18 kWh = 18 x 3.6 MJ = 64.8 MJ.
    assert units.parse_energy_j("1.5kW*12h") == pytest.approx(64.8e6)
    assert units.j_to_kwh(units.parse_energy_j("1.5 kW x 12 h")) == pytest.approx(18.0)
    # 18 kWh at the default 33.3 Wh (18,000 Wh / 540 cups) a cup is 540 cups.
    assert units.tea_cups(units.kwh_to_j(18.0)) == pytest.approx(540.0)
    assert abs(units.WH_PER_CUP - 33.333) < 1e-3


def test_kettle_physics() -> None:
    # 0.25 kg x 4186 J/(kg K) x 80 K = 83,720 J = 83,720 / 3600 Wh = 23.26 Wh.
    assert units.kettle_energy_j() == pytest.approx(83_720.0)
    assert units.j_to_wh(units.kettle_energy_j()) == pytest.approx(23.256, abs=1e-3)


@pytest.mark.parametrize(
    ("text", "joules"),
    [
        ("18kWh", 64.8e6),
        ("500Wh", 1.8e6),  # 500 x 3600
        ("64.8MJ", 64.8e6),
        ("3600 J", 3600.0),
        ("2.5kJ", 2500.0),
        ("12h*1.5kW", 64.8e6),  # the time may come first
        ("300W*30min", 540_000.0),  # 300 W x 1800 s
        ("1MWh", 3.6e9),
    ],
)
def test_parse_energy(text: str, joules: float) -> None:
    assert units.parse_energy_j(text) == pytest.approx(joules)


@pytest.mark.parametrize("text", ["18kw", "kWh", "18 kWh x", "1.5kW*12kWh", "", "-5J"])
def test_parse_energy_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not an energy"):
        units.parse_energy_j(text)


def test_co2_and_cost_include_pue() -> None:
    energy_j = units.kwh_to_j(18.0)
    # 18 kWh x 475 g/kWh = 8,550 g; at PUE 1.5 the facility draws 27 kWh: 12,825 g.
    assert units.co2_g(energy_j, 475.0) == pytest.approx(8550.0)
    assert units.co2_g(energy_j, 475.0, pue=1.5) == pytest.approx(12_825.0)
    # 18 kWh x 0.30 = 5.40; with PUE 1.5, 8.10.
    assert units.cost(energy_j, 0.30) == pytest.approx(5.40)
    assert units.cost(energy_j, 0.30, pue=1.5) == pytest.approx(8.10)


def test_unknown_stays_unknown() -> None:
    assert math.isnan(units.tea_cups(math.nan))
    assert math.isnan(units.co2_g(math.nan))
    assert units.format_energy(math.nan) == "unknown"
    assert units.format_count(math.nan) == "unknown"


def test_formatting() -> None:
    assert units.format_energy(64.8e6) == "18 kWh"
    assert units.format_energy(1.8e6) == "500 Wh"
    assert units.format_energy(12.5) == "12.5 J"
    assert units.format_count(540.0) == "540"
    assert units.format_count(0.04166) == "0.0417"
