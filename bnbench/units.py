"""Energy units and what a figure means to people: kWh, cups of tea, grams of CO2, money. Pure functions.

Everything inside bnbench counts joules (`energy_j`); these functions convert at the edge where a person reads
the number. NaN in gives NaN out: an unknown energy never becomes 0 cups.

It imports nothing from bnbench: the scenario's `[energy]` defaults (a cup, CO2 and price per kWh, a busy core's
watts) come from here, the meters and the reports convert with it.
"""

from __future__ import annotations

import math
import re
import sys

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


_ENERGY_BASES = {"j": 1.0, "wh": J_PER_WH}
_POWER_BASES = {"w": 1.0}
_SPELLED = {"j": "J", "wh": "Wh", "w": "W"}
# SI prefixes. 'm' is milli and 'M' mega, so they are told apart by case; the others are read in either case.
_PREFIXES = {"": 1.0, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12}
_TIME_S = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)\s*([a-zA-Z]+)\s*$")


class AmbiguousUnit(ValueError):
    """A lower-case 'm' prefix ('5mwh'): milli or mega cannot be told."""


def _factor(unit: str, bases: dict[str, float]) -> float | None:
    """The size of `unit` (a base such as 'Wh', with an SI prefix or none) in the bases' unit; None if unknown.
    AmbiguousUnit for an all-lower-case unit with an 'm' prefix."""
    for base, size in bases.items():
        if unit.lower().endswith(base) and unit[: len(unit) - len(base)] in _PREFIXES:
            prefix = unit[: len(unit) - len(base)]
            if prefix == "m" and unit == unit.lower():
                shown = _SPELLED[base]
                raise AmbiguousUnit(f"'{unit}' is milli or mega: write m{shown} for milli, M{shown} for mega")
            return _PREFIXES[prefix] * size
    return None


def _quantity(text: str, bases: dict[str, float] | None) -> float | None:
    """The figure of '18kWh' in base units (joules, watts, or seconds when `bases` is None), None if unknown."""
    match = _QUANTITY.match(text)
    if not match:
        return None
    unit = match.group(2)
    size = _TIME_S.get(unit.lower()) if bases is None else _factor(unit, bases)
    return None if size is None else float(match.group(1)) * size


def parse_energy_j(text: str) -> float:
    """Joules from '18kWh', '500 Wh', '64.8MJ', '3600J', '5mWh' or a power times a time: '1.5kW*12h',
    '1.5 kW x 12 h'.

    SI prefixes: 'm' is milli and 'M' mega ('5mWh' is 18 J, '5MWh' 18 GJ); an all-lower-case unit with an 'm'
    ('5mwh') could be either and is refused; other prefixes and units may be in any case ('18KWH'). Raises
    ValueError with one line saying what is accepted, also for a figure too large for a float ('1e400J').
    """
    parts = re.split(r"\s*[*xX×]\s*(?=[\d.])", text.strip())
    energy_j: float | None = None
    try:
        if len(parts) == 1:
            energy_j = _quantity(parts[0], _ENERGY_BASES)
        elif len(parts) == 2:
            first, second = parts
            power, duration = _quantity(first, _POWER_BASES), _quantity(second, None)
            if power is None or duration is None:  # the time may come first: 12h*1.5kW
                power, duration = _quantity(second, _POWER_BASES), _quantity(first, None)
            if power is not None and duration is not None:
                energy_j = power * duration
    except AmbiguousUnit as exc:
        raise ValueError(f"'{text}': {exc}") from None
    if energy_j is not None and not math.isfinite(energy_j):
        raise ValueError(f"'{text}' is too large an energy (over {sys.float_info.max:.3g} J)")
    if energy_j is None:
        raise ValueError(
            f"'{text}' is not an energy; write e.g. 18kWh, 500Wh, 64.8MJ, 3600J or a power times a time: 1.5kW*12h"
        )
    return energy_j


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
