"""Pure statistics over seeds: descriptions, Student-t intervals, Welch's t-test, ratio intervals.

Every function takes plain sequences of floats, ignores NaN (a figure that could not be measured), and returns
NaN where a figure is undefined (an interval from one seed). No I/O, no pandas.

The intervals are analytic rather than bootstrapped: with the 2 to 10 seeds a benchmark affords, a bootstrap
resamples too few values to be trusted, and an analytic interval is reproducible to the last digit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr, stdtrit  # scipy.stats would add seconds of import time

CONFIDENCE = 0.95
NAN = float("nan")


def finite(values: Sequence[float]) -> np.ndarray:
    """The finite values as a float array (NaN and inf dropped)."""
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t critical value, e.g. 4.303 for df=2 at 95%."""
    return float(stdtrit(df, 0.5 + confidence / 2))


@dataclass(frozen=True)
class Description:
    """One figure across seeds. `ci_low/ci_high`: the 95% Student-t interval of the mean (NaN when n < 2)."""

    n: int
    mean: float
    sd: float
    median: float
    min: float
    max: float
    ci_low: float
    ci_high: float


def describe(values: Sequence[float], confidence: float = CONFIDENCE) -> Description:
    """n, mean, sample sd (ddof=1), median, min, max and the t interval mean ± t(n-1) * sd / sqrt(n)."""
    x = finite(values)
    n = len(x)
    if n == 0:
        return Description(0, NAN, NAN, NAN, NAN, NAN, NAN, NAN)
    mean = float(x.mean())
    if n == 1:
        return Description(1, mean, NAN, mean, mean, mean, NAN, NAN)
    sd = float(x.std(ddof=1))
    half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
    return Description(n, mean, sd, float(np.median(x)), float(x.min()), float(x.max()), mean - half, mean + half)


def olympic_mean(values: Sequence[float]) -> float:
    """MLPerf's mean of several seeds: drop the lowest and the highest, average the rest (plain mean for n < 3)."""
    x = np.sort(finite(values))
    if len(x) == 0:
        return NAN
    return float(x[1:-1].mean()) if len(x) >= 3 else float(x.mean())


@dataclass(frozen=True)
class Difference:
    """mean(b) - mean(a) with its 95% Welch interval, and Welch's two-sided p-value.

    `ci_low`, `ci_high`, `p`, `df` are NaN when either side has fewer than 2 values.
    """

    n_a: int
    n_b: int
    diff: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p: float

    @property
    def testable(self) -> bool:
        return self.n_a >= 2 and self.n_b >= 2

    @property
    def crosses_zero(self) -> bool:
        """True when the interval holds 0 (or there is no interval): no winner at this level."""
        return not (self.ci_low > 0 or self.ci_high < 0)


def welch(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """Welch's unequal-variance t-test of b against a.

    se = sqrt(s_a^2/n_a + s_b^2/n_b); t = (mean_b - mean_a) / se; the Welch-Satterthwaite degrees of freedom
    df = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)); interval diff ± t(df) * se. When both samples
    have no spread at all, a nonzero difference gets p = 0 and a zero-width interval.
    """
    xa, xb = finite(a), finite(b)
    na, nb = len(xa), len(xb)
    diff = float(xb.mean() - xa.mean()) if na and nb else NAN
    if na < 2 or nb < 2:
        return Difference(na, nb, diff, NAN, NAN, NAN, NAN, NAN)
    va, vb = xa.var(ddof=1) / na, xb.var(ddof=1) / nb
    se2 = float(va + vb)
    if se2 == 0.0:
        p = 1.0 if diff == 0 else 0.0
        return Difference(na, nb, diff, diff, diff, NAN, float(na + nb - 2), p)
    df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    se = math.sqrt(se2)
    t = diff / se
    half = t_quantile(df, confidence) * se
    p = float(2 * stdtr(df, -abs(t)))
    return Difference(na, nb, diff, diff - half, diff + half, t, float(df), p)


@dataclass(frozen=True)
class Ratio:
    """mean(b) / mean(a) with a 95% interval; NaN where undefined (a mean <= 0, or fewer than 2 values)."""

    ratio: float
    ci_low: float
    ci_high: float

    @property
    def crosses_one(self) -> bool:
        return not (self.ci_low > 1 or self.ci_high < 1)


def ratio(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Ratio:
    """Ratio of means by the delta method on the log scale.

    log r = log mean_b - log mean_a; its variance is about s_b^2/(n_b mean_b^2) + s_a^2/(n_a mean_a^2) (the
    squared coefficients of variation of the two means); the degrees of freedom are Welch-Satterthwaite's on
    those two terms; the interval is exp(log r ± t(df) * se), so it never goes below zero.
    """
    xa, xb = finite(a), finite(b)
    if not len(xa) or not len(xb):
        return Ratio(NAN, NAN, NAN)
    ma, mb = float(xa.mean()), float(xb.mean())
    if ma <= 0 or mb <= 0:
        return Ratio(NAN, NAN, NAN)
    r = mb / ma
    if len(xa) < 2 or len(xb) < 2:
        return Ratio(r, NAN, NAN)
    ca = xa.var(ddof=1) / (len(xa) * ma**2)
    cb = xb.var(ddof=1) / (len(xb) * mb**2)
    se2 = float(ca + cb)
    if se2 == 0.0:
        return Ratio(r, r, r)
    df = se2**2 / (ca**2 / (len(xa) - 1) + cb**2 / (len(xb) - 1))
    half = t_quantile(df, confidence) * math.sqrt(se2)
    return Ratio(r, r * math.exp(-half), r * math.exp(half))
