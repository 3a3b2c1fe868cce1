"""`bnbench tea`'s input: SI prefixes by case, figures too large for a float, and the rates a scenario refuses."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bnbench import units
from bnbench.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "joules"),
    [
        ("5mWh", 18.0),  # 5 milliwatt-hours = 0.005 Wh x 3600 J/Wh
        ("5MWh", 1.8e10),  # 5 megawatt-hours = 5e6 Wh x 3600
        ("250mJ", 0.25),
        ("18KWH", 64.8e6),  # k and K, wh and WH: read in either case
        ("100mW*1h", 360.0),  # 0.1 W x 3600 s
        ("1.5 kW X 12 h", 64.8e6),
    ],
)
def test_milli_and_mega_are_told_apart_by_case(text: str, joules: float) -> None:
    assert units.parse_energy_j(text) == pytest.approx(joules)


def test_tea_reads_milliwatt_hours_as_milli() -> None:
    # 5 mWh = 18 J = 5e-6 kWh (it said 5000 kWh, reading milli as mega).
    result = runner.invoke(app, ["tea", "5mWh"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]  # '5mWh = 5e-06 kWh = ...'; the digits shown may vary, the value not
    assert float(first.split("=")[1].removesuffix(" kWh ").strip()) == pytest.approx(5e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["5mwh"], "'5mwh': 'mwh' is milli or mega: write mWh for milli, MWh for mega"),
        (["1e400J"], "'1e400J' is too large an energy (over 1.8e+308 J)"),
        (["1e200kW*1e200h"], "'1e200kW*1e200h' is too large an energy (over 1.8e+308 J)"),
        # 1e300 J = 2.8e293 kWh; at 1e20 per kWh the cost, 2.8e313, is past a float's 1.8e308.
        (["1e300J", "--price", "1e20"], "'1e300J' with these rates gives a figure too large for a float"),
        (["18kWh", "--co2", "-5"], "--co2 must be >= 0 (got -5)"),
        (["18kWh", "--price", "-1"], "--price must be >= 0 (got -1)"),
        (["18kWh", "--pue", "0.5"], "--pue must be >= 1: facility energy over device energy (got 0.5)"),
        (["18kWh", "--price", "nan"], "--price must be a finite number (got nan)"),
    ],
)
def test_bad_tea_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["tea", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bnbench: error: {message}"), result.output
