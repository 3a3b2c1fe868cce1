"""`bnbench tea`, `bnbench devices`, and the idle baseline `bnbench run` takes before its first run."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bnbench import units
from bnbench.errors import UserError

if TYPE_CHECKING:
    from bnbench.scenario import EnergyConfig


def tea_lines(
    text: str,
    wh_per_cup: float = units.WH_PER_CUP,
    co2_g_per_kwh: float = units.DEFAULT_CO2_G_PER_KWH,
    price_per_kwh: float = units.DEFAULT_PRICE_PER_KWH,
    currency: str = units.DEFAULT_CURRENCY,
    pue: float = 1.0,
) -> list[str]:
    """What an energy means, one fact a line: kWh and MJ, cups of tea, CO2, cost. UserError for bad input."""
    try:
        energy_j = units.parse_energy_j(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for name, value in (("--wh-per-cup", wh_per_cup), ("--co2", co2_g_per_kwh), ("--price", price_per_kwh),
                        ("--pue", pue)):
        if not math.isfinite(value):
            raise UserError(f"{name} must be a finite number (got {value:g})")
    if wh_per_cup <= 0:
        raise UserError(f"--wh-per-cup must be > 0 (got {wh_per_cup:g})")
    for name, value in (("--co2", co2_g_per_kwh), ("--price", price_per_kwh)):  # as a scenario's [energy]
        if value < 0:
            raise UserError(f"{name} must be >= 0 (got {value:g})")
    if pue < 1:
        raise UserError(f"--pue must be >= 1: facility energy over device energy (got {pue:g})")
    figures = (units.tea_cups(energy_j, wh_per_cup), units.co2_g(energy_j, co2_g_per_kwh, pue),
               units.cost(energy_j, price_per_kwh, pue))
    if not all(math.isfinite(f) for f in figures):
        raise UserError(f"'{text.strip()}' with these rates gives a figure too large for a float; give a smaller one")
    from bnbench.rendering import format as fmt

    cups = units.tea_cups(energy_j, wh_per_cup)
    pue_note = f", PUE {pue:g}" if pue != 1.0 else ""
    # Numbers as `bnbench run` writes them: 3 significant digits, never 1e-07; a small cost in cents.
    if abs(energy_j) >= 1e9:  # a data centre's month in GJ, not 3000 MJ
        other = f"{fmt.significant(energy_j / 1e9)} GJ"
    else:
        other = f"{fmt.significant(energy_j / 1e6)} MJ" if abs(energy_j) >= 1e5 else fmt.energy(energy_j)
    return [
        f"{text.strip()} = {fmt.kwh(energy_j)} kWh = {other}",
        f"= {fmt.count(cups)} cups of tea ({wh_per_cup:.3g} Wh a cup; a perfect kettle needs "
        f"{units.j_to_wh(units.kettle_energy_j()):.3g} Wh to heat 250 ml by 80 K)",
        f"= {fmt.co2(units.co2_g(energy_j, co2_g_per_kwh, pue))} CO2 at {co2_g_per_kwh:g} g/kWh{pue_note}",
        f"= {fmt.cost(units.cost(energy_j, price_per_kwh, pue), currency)} at {price_per_kwh:g} {currency}/kWh"
        f"{pue_note}",
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def print_devices(console: Console | None = None, config: EnergyConfig | None = None) -> None:
    """GPUs (what NVML reads on each), RAPL zones, and the energy source every kind of run will use."""
    from bnbench.energy.devices import gpu_report, host_report
    from bnbench.rendering.table import plain_table

    console = console or Console()
    gpus, why = gpu_report()
    if gpus:
        table = plain_table("GPUs (NVML)")
        for column in ("index", "name", "architecture", "driver", "power limit W", "energy counter",
                       "instant power", "MIG", "energy source"):
            table.add_column(column)
        for g in gpus:
            limit = "-" if g.power_limit_w is None else f"{g.power_limit_w:.0f}"
            table.add_row(str(g.index), g.name or "?", g.architecture or "?", g.driver or "?", limit,
                          _yes(g.counter), _yes(g.instant_power), _yes(g.mig), g.source)
        console.print(table)
    else:
        console.print(f"GPUs: none seen by NVML ({why})")
    host = host_report(config)
    if host.zones:
        table = plain_table("RAPL zones (powercap)")
        for column in ("zone", "name", "counted", "readable"):
            table.add_column(column)
        for zone in host.zones:
            readable = "yes" if zone.readable else f"no: {zone.reason}"
            table.add_row(zone.path.name, zone.name, _yes(zone.counted), readable)
        console.print(table)
    else:
        console.print("RAPL: no powercap zones on this machine")
    note = f" ({host.note})" if host.note else ""
    console.print(f"CPU runs and the host's share of GPU runs: energy source {host.source}{note}")
    if host.source == "estimate":
        console.print("Estimated energy is a model, not a measurement: it is labelled 'estimate' in every file.")


def idle_baseline(
    devices: list[str], config: EnergyConfig, console: Console, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Measure every metered part of `devices` at idle for `config.idle_s` seconds (0: skip); a set `stop` (a
    signal) ends it early, with what was measured so far.

    A part metered by the estimate is not waited on: its idle draw is 0 W by the estimate's model (said once).

    Returns manifest entries: `idle_w` {part: watts or None}, `idle_sources` {part: source}, `idle_s` (0 when
    no part needed the wait).
    """
    from bnbench.energy.devices import open_device_meter, run_parts
    from bnbench.energy.idle import measure_idle_w, sees_idle
    from bnbench.rendering.terminal import say

    if config.idle_s <= 0:
        return {"idle_w": {}, "idle_sources": {}, "idle_s": 0.0}
    keys = list(dict.fromkeys(k for d in devices for k in run_parts(d)))
    meters = [open_device_meter(k, config) for k in keys]
    meters = [m for m in meters if m.source is not None]
    sources = {m.key: m.label for m in meters}
    blind = [m for m in meters if not sees_idle(m)]
    meters = [m for m in meters if sees_idle(m)]
    idle: dict[str, float | None] = {m.key: 0.0 for m in blind}  # the estimate's model: no CPU seconds, 0 W
    for meter in blind:
        meter.close()
    if blind:
        say(console, f"idle baseline: not measured for {', '.join(m.key for m in blind)}: an estimate counts the "
                     "CPU time runs use, so its idle draw is 0 W by its model")
    idle_s = config.idle_s if meters else 0.0
    if meters:
        console.print(f"idle baseline: {config.idle_s:g} s with nothing running ...")
        # Polled between sleeps, never waited on: stop_on_signals's handler sets it from this thread (see there).
        idle |= measure_idle_w(meters, config.idle_s, stopped=(stop or threading.Event()).is_set)
        for meter in meters:
            meter.close()
        shown = ", ".join(f"{m.key} {'unknown' if idle[m.key] is None else f'{idle[m.key]:.1f} W'} ({m.label})"
                          for m in meters)
        console.print(f"idle baseline: {shown}")
    elif not blind:
        console.print("idle baseline: no device can be metered")
    return {"idle_w": idle, "idle_sources": sources, "idle_s": idle_s}
