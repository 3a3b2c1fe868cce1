"""Numbers as people read them: energy and time in a fitting unit, NaN as 'not measured', estimates labelled."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a type only: the live display imports this module, and formatting needs no scipy
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


def plural(n: int, word: str) -> str:
    """'1 run', '2 runs'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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


def decimals_of(x: float, digits: int = 3) -> int:
    """The decimals `significant(x, digits)` prints (0 for large numbers)."""
    if not math.isfinite(x) or x == 0 or abs(x) >= 10 ** (digits - 1):
        return 0
    return digits - 1 - math.floor(math.log10(abs(x)))


def plus_minus(mean: float, sd: float, digits: int = 3) -> str:
    """'5.70 ± 0.02': the mean to `digits` significant digits and the spread to the same decimals, so a spread
    below the mean's last digit reads '± 0.00', never '± 0.000000000000015'."""
    decimals = decimals_of(mean, digits)
    if not math.isfinite(sd):
        return significant(mean, digits)
    return f"{significant(mean, digits)} ± {sd:.{decimals}f}"


def kwh(energy_j: float | None) -> str:
    """Kilowatt-hours to three significant digits ('0.000417', '18.0'), or 'not measured'."""
    if energy_j is None or not math.isfinite(energy_j):
        return NOT_MEASURED
    return significant(energy_j / J_PER_KWH)


def count(x: float | None) -> str:
    """A count such as cups of tea: '540', '12.5', '0.0125'; 'n/a' when unknown."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else significant(x)


def co2(grams: float | None) -> str:
    """'0.21 g', '12.4 kg', '3.1 t' of CO2; 'n/a' when unknown."""
    if grams is None or not math.isfinite(grams):
        return "n/a"
    for unit, size in (("t", 1e6), ("kg", 1e3)):
        if abs(grams) >= size:
            return f"{significant(grams / size)} {unit}"
    return f"{significant(grams, 2)} g"


# Currencies whose hundredth has a name people read: a small cost is shown in it ('0.013 US cents').
MINOR_UNITS = {"USD": "US cents", "EUR": "euro cents", "GBP": "pence", "CHF": "rappen", "CAD": "Canadian cents",
               "AUD": "Australian cents"}


def cost(amount: float | None, currency: str) -> str:
    """'3.60 EUR'; below one hundredth, the hundredths ('0.013 US cents') or, for a currency without a named
    hundredth, significant digits ('0.00013 JPY'); 'n/a' when unknown."""
    if amount is None or not math.isfinite(amount):
        return "n/a"
    minor = MINOR_UNITS.get(currency.upper())
    if abs(amount) >= 0.01 or amount == 0:
        return f"{amount:,.2f} {currency}"
    if minor:
        return f"{significant(amount * 100, 2)} {minor}"
    return f"{significant(amount, 2)} {currency}"


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
    """'[29.80, 30.44]', '(n/a: 2 seeds cannot bound this)', or '-' without an interval (fewer than 2 values).
    Parentheses, not brackets, around words: rich would take '[n/a: ...]' in a table cell for markup."""
    if d.n == 2 and not math.isfinite(d.ci_low):
        return "(n/a: 2 seeds cannot bound this)"  # as analysis.verdict.no_interval says it
    if d.n < 2 or not math.isfinite(d.ci_low):
        return "-"
    return f"[{number(d.ci_low, decimals)}, {number(d.ci_high, decimals)}]"


def to_jsonable(value: Any) -> Any:
    """NaN and inf become None (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
