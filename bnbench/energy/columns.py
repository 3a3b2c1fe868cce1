"""A run's energy as runs.csv columns: joules, kWh, net kWh, cups of tea, CO2, cost, source, per phase."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bnbench import units
from bnbench.energy.run_meter import PHASES, RunEnergy

if TYPE_CHECKING:
    from bnbench.scenario import EnergyConfig


def energy_columns(energy: RunEnergy, config: EnergyConfig) -> dict[str, Any]:
    """The energy columns of a run's row. kWh and tea are the devices' draw; CO2 and cost include the PUE.

    NaN stays NaN (an empty cell in runs.csv), whatever the column.
    """
    return {
        "energy_j": energy.energy_j,
        "energy_source": energy.energy_source,
        "kwh": units.j_to_kwh(energy.energy_j),
        "net_kwh": units.j_to_kwh(energy.net_j),
        "tea_cups": units.tea_cups(energy.energy_j, config.wh_per_cup),
        "co2_g": units.co2_g(energy.energy_j, config.co2_g_per_kwh, config.pue),
        "cost": units.cost(energy.energy_j, config.price_per_kwh, config.pue),
        **{f"energy_{phase}_j": energy.phase_j[phase] for phase in PHASES},
        "energy_host_j": energy.host_j,
        "idle_w": energy.idle_j / energy.measured_s if energy.measured_s > 0 else math.nan,
        "energy_integral_j": energy.integral_j,
        "energy_discrepancy": energy.discrepancy,
    }
