"""Pure statistics over seeds: descriptions, Student-t intervals, Welch's t-test, ratio intervals.

Every function takes plain sequences of floats, ignores NaN (a figure that could not be measured), and returns
NaN where a figure is undefined (an interval from one seed). No I/O, no pandas.

Intervals of a mean and of a ratio need MIN_INTERVAL_N values a side: with 2, a 95% Student-t interval is
t(0.975, 1) = 12.7 standard errors wide either way, which bounds nothing (it printed accuracies above 100% and
energy ratios from 0.00 to 9861); such an interval is NaN, and the reports say why. The mean of a bounded
figure (an accuracy) gets its interval cut to the bounds.

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
MIN_INTERVAL_N = 3  # fewer values than this a side: no interval of a mean or a ratio


def finite(values: Sequence[float]) -> np.ndarray:
    """The finite values as a float array (NaN and inf dropped)."""
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t critical value, e.g. 4.303 for df=2 at 95%."""
    return float(stdtrit(df, 0.5 + confidence / 2))


@dataclass(frozen=True)
class Description:
    """One figure across seeds. `ci_low/ci_high`: the 95% Student-t interval of the mean (NaN when n < 3)."""

    n: int
    mean: float
    sd: float
    median: float
    min: float
    max: float
    ci_low: float
    ci_high: float


def describe(values: Sequence[float], confidence: float = CONFIDENCE,
             bounds: tuple[float, float] | None = None) -> Description:
    """n, mean, sample sd (ddof=1), median, min, max and the t interval mean ± t(n-1) * sd / sqrt(n) (NaN for
    n < MIN_INTERVAL_N). With `bounds` (lo, hi), the figure can only lie between them (an accuracy in percent:
    (0, 100)): the interval is bounded_interval's instead, within them."""
    x = finite(values)
    n = len(x)
    if n == 0:
        return Description(0, NAN, NAN, NAN, NAN, NAN, NAN, NAN)
    mean = float(x.mean())
    if n == 1:
        return Description(1, mean, NAN, mean, mean, mean, NAN, NAN)
    sd = float(x.std(ddof=1))
    low = high = NAN
    if n >= MIN_INTERVAL_N and bounds is not None:
        low, high = bounded_interval(x, bounds, confidence)
    elif n >= MIN_INTERVAL_N:
        half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return Description(n, mean, sd, float(np.median(x)), float(x.min()), float(x.max()), low, high)


def bounded_interval(x: np.ndarray, bounds: tuple[float, float], confidence: float = CONFIDENCE
                     ) -> tuple[float, float]:
    """The t interval of the mean of values that can only lie in [lo, hi], cut to [lo, hi]. The mean cannot lie
    outside them, so the cut interval holds it exactly as often as the whole one, and stays centred on the mean
    where it is not cut. (A logit-scale interval bounds the mean of the logits instead: for 97, 99 and 99.8%
    it gave [79.3, 99.97] around a mean of 98.6.)"""
    lo, hi = bounds
    half = t_quantile(len(x) - 1, confidence) * float(x.std(ddof=1)) / math.sqrt(len(x))
    mean = float(x.mean())
    return max(mean - half, lo), min(mean + half, hi)


def olympic_mean(values: Sequence[float]) -> float:
    """MLPerf's mean of several seeds: drop the lowest and the highest, average the rest (plain mean for n < 3)."""
    x = np.sort(finite(values))
    if len(x) == 0:
        return NAN
    return float(x[1:-1].mean()) if len(x) >= 3 else float(x.mean())


@dataclass(frozen=True)
class Difference:
    """mean(b) - mean(a) with its 95% Welch interval, and Welch's two-sided p-value.

    `ci_low`, `ci_high` are NaN when either side has fewer than MIN_INTERVAL_N values, `p` and `df` when either
    has fewer than 2.
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
        edge = diff if min(na, nb) >= MIN_INTERVAL_N else NAN
        return Difference(na, nb, diff, edge, edge, NAN, float(na + nb - 2), p)
    df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    se = math.sqrt(se2)
    t = diff / se
    half = t_quantile(df, confidence) * se if min(na, nb) >= MIN_INTERVAL_N else NAN
    p = float(2 * stdtr(df, -abs(t)))
    return Difference(na, nb, diff, diff - half, diff + half, t, float(df), p)


@dataclass(frozen=True)
class Ratio:
    """mean(b) / mean(a) with a 95% interval; NaN where undefined (a mean <= 0, or fewer than MIN_INTERVAL_N
    values a side). `n`: the fewer values of the two sides."""

    ratio: float
    ci_low: float
    ci_high: float
    n: int = 0

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
    n = min(len(xa), len(xb))
    if not n:
        return Ratio(NAN, NAN, NAN)
    ma, mb = float(xa.mean()), float(xb.mean())
    if ma <= 0 or mb <= 0:
        return Ratio(NAN, NAN, NAN, n)
    r = mb / ma
    if n < MIN_INTERVAL_N:
        return Ratio(r, NAN, NAN, n)
    ca = xa.var(ddof=1) / (len(xa) * ma**2)
    cb = xb.var(ddof=1) / (len(xb) * mb**2)
    se2 = float(ca + cb)
    if se2 == 0.0:
        return Ratio(r, r, r, n)
    df = se2**2 / (ca**2 / (len(xa) - 1) + cb**2 / (len(xb) - 1))
    half = t_quantile(df, confidence) * math.sqrt(se2)
    return Ratio(r, r * math.exp(-half), r * math.exp(half), n)
