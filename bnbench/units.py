"""Energy units and what a figure means to people: kWh, cups of tea, grams of CO2, money. Pure functions.

Everything inside bnbench counts joules (`energy_j`); these functions convert at the edge where a person reads
the number. NaN in gives NaN out: an unknown energy never becomes 0 cups.

It imports nothing from bnbench: the scenario's `[energy]` defaults (a cup, CO2 and price per kWh, a busy core's
watts) come from here, the meters and the reports convert with it.
"""

from __future__ import annotations

import math
import re

J_PER_WH = 3600.0
J_PER_KWH = 3_600_000.0

# A cup of tea: 250 ml of water heated by 80 K (20 -> 100 degC) with a perfect kettle needs
# 0.25 kg x 4186 J/(kg K) x 80 K = 83.7 kJ = 23.3 Wh. The paper's arithmetic (1.5 kW x 12 h = 18 kWh =
# 540 cups) implies 33.3 Wh per cup: a larger cup, or a kettle about 70% efficient. The default is defined by
# the paper's figures, so that 18 kWh is exactly 540 cups.
WATER_HEAT_CAPACITY_J_PER_KG_K = 4186.0
CUP_MASS_KG = 0.25
CUP_HEATING_K = 80.0
WH_PER_CUP = 18_000.0 / 540.0

DEFAULT_CO2_G_PER_KWH = 475.0  # the IEA's world-average carbon intensity of electricity (2019)
DEFAULT_PRICE_PER_KWH = 0.30
DEFAULT_CURRENCY = "USD"

DEFAULT_W_PER_CORE = 10.0
"""Watts per busy core of the CPU-time estimate (energy/estimate.py): a desktop CPU of 65-125 W TDP with 8-16
cores draws roughly 5-15 W per loaded core."""


def kettle_energy_j(mass_kg: float = CUP_MASS_KG, heating_k: float = CUP_HEATING_K) -> float:
    """Joules to heat `mass_kg` of water by `heating_k` kelvin with a perfect kettle (no losses)."""
    return mass_kg * WATER_HEAT_CAPACITY_J_PER_KG_K * heating_k


def j_to_kwh(energy_j: float) -> float:
    return energy_j / J_PER_KWH


def kwh_to_j(energy_kwh: float) -> float:
    return energy_kwh * J_PER_KWH


def j_to_wh(energy_j: float) -> float:
    return energy_j / J_PER_WH


def tea_cups(energy_j: float, wh_per_cup: float = WH_PER_CUP) -> float:
    """Cups of tea the energy would boil, at `wh_per_cup` watt-hours per cup (default 33.3 Wh)."""
    return energy_j / (wh_per_cup * J_PER_WH)


def facility_kwh(energy_j: float, pue: float = 1.0) -> float:
    """kWh drawn from the grid: the devices' energy times the data centre's PUE (1.0: no overhead counted)."""
    return j_to_kwh(energy_j) * pue


def co2_g(energy_j: float, co2_g_per_kwh: float = DEFAULT_CO2_G_PER_KWH, pue: float = 1.0) -> float:
    """Grams of CO2 emitted to supply the energy, PUE included."""
    return facility_kwh(energy_j, pue) * co2_g_per_kwh


def cost(energy_j: float, price_per_kwh: float = DEFAULT_PRICE_PER_KWH, pue: float = 1.0) -> float:
    """What the energy costs at `price_per_kwh` (in the scenario's currency), PUE included."""
    return facility_kwh(energy_j, pue) * price_per_kwh


_ENERGY_J = {"j": 1.0, "kj": 1e3, "mj": 1e6, "gj": 1e9, "wh": J_PER_WH, "kwh": J_PER_KWH, "mwh": 1e3 * J_PER_KWH,
             "gwh": 1e6 * J_PER_KWH}
_POWER_W = {"w": 1.0, "kw": 1e3, "mw": 1e6, "gw": 1e9}
_TIME_S = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)\s*([a-z]+)\s*$")


def _quantity(text: str, units: dict[str, float]) -> float | None:
    match = _QUANTITY.match(text.lower())
    if not match or match.group(2) not in units:
        return None
    return float(match.group(1)) * units[match.group(2)]


def parse_energy_j(text: str) -> float:
    """Joules from '18kWh', '500 Wh', '64.8MJ', '3600J' or a power times a time: '1.5kW*12h', '1.5 kW x 12 h'.

    Unit names are case-insensitive ('mj' is megajoules; millijoules are not accepted). Raises ValueError
    with one line saying what is accepted.
    """
    parts = re.split(r"\s*[*x×]\s*(?=[\d.])", text.strip().lower())
    if len(parts) == 1:
        energy = _quantity(parts[0], _ENERGY_J)
        if energy is not None:
            return energy
    elif len(parts) == 2:
        first, second = parts
        power, duration = _quantity(first, _POWER_W), _quantity(second, _TIME_S)
        if power is None or duration is None:  # the time may come first: 12h*1.5kW
            power, duration = _quantity(second, _POWER_W), _quantity(first, _TIME_S)
        if power is not None and duration is not None:
            return power * duration
    raise ValueError(
        f"'{text}' is not an energy; write e.g. 18kWh, 500Wh, 64.8MJ, 3600J or a power times a time: 1.5kW*12h"
    )


def format_energy(energy_j: float) -> str:
    """'18 kWh', '500 Wh', '2.5 J': the unit that keeps the number readable."""
    if math.isnan(energy_j):
        return "unknown"
    for unit, size in (("MWh", 1e3 * J_PER_KWH), ("kWh", J_PER_KWH), ("Wh", J_PER_WH)):
        if abs(energy_j) >= size:
            return f"{energy_j / size:.4g} {unit}"
    return f"{energy_j:.4g} J"


def format_count(value: float) -> str:
    """A count a person reads: '540', '12.5', '0.0417'; 'unknown' for NaN."""
    if math.isnan(value):
        return "unknown"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
