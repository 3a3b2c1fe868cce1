"""Numbers as people read them: energy and time in a fitting unit, NaN as 'not measured', estimates labelled."""

from __future__ import annotations

import math

from bnbench.analysis.stats import Description

NOT_MEASURED = "not measured"
J_PER_WH = 3600.0
J_PER_KWH = 3.6e6


def energy_scale(max_j: float) -> tuple[float, str]:
    """(divisor, unit) to show joules up to `max_j`: J, kJ, Wh or kWh."""
    if not math.isfinite(max_j) or max_j < 1e4:
        return 1.0, "J"
    if max_j < J_PER_WH * 10:
        return 1e3, "kJ"
    if max_j < J_PER_KWH:
        return J_PER_WH, "Wh"
    return J_PER_KWH, "kWh"


def time_scale(max_s: float) -> tuple[float, str]:
    """(divisor, unit) to show seconds up to `max_s`: s, min or h."""
    if not math.isfinite(max_s) or max_s < 180:
        return 1.0, "s"
    if max_s < 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def number(x: float | None, decimals: int = 2) -> str:
    """`x` rounded, or 'n/a' for None/NaN."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{decimals}f}"


def energy(joules: float | None, source: str = "") -> str:
    """'1.23 kWh', '512 J (estimate)', or 'not measured' (never 0 for a reading that was not taken)."""
    if joules is None or not math.isfinite(joules):
        return NOT_MEASURED
    divisor, unit = energy_scale(joules)
    text = f"{significant(joules / divisor)} {unit}"
    return f"{text} (estimate)" if "estimate" in source else text


def significant(x: float, digits: int = 3) -> str:
    """About `digits` significant digits without scientific notation: 0.00123, 1.23, 123, 1234."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0 or abs(x) >= 10 ** (digits - 1):
        return f"{x:.0f}"
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    return f"{x:.{decimals}f}"


def seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "n/a"
    divisor, unit = time_scale(s)
    return f"{s / divisor:.1f} {unit}"


def mean_sd(d: Description, decimals: int = 2) -> str:
    """'30.12 ± 0.41' over seeds, the bare value for one seed, '-' for none."""
    if d.n == 0:
        return "-"
    if d.n == 1:
        return number(d.mean, decimals)
    return f"{number(d.mean, decimals)} ± {number(d.sd, decimals)}"


def interval(d: Description, decimals: int = 2) -> str:
    """'[29.80, 30.44]', or '-' without an interval (fewer than 2 values)."""
    if d.n < 2 or not math.isfinite(d.ci_low):
        return "-"
    return f"[{number(d.ci_low, decimals)}, {number(d.ci_high, decimals)}]"
