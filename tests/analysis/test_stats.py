"""Statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from bnbench.analysis import stats


def test_describe_three_values_t_interval():
    # [1, 2, 3]: mean 2, sd 1 (squares of deviations 1+0+1 over n-1=2), median 2; t(0.975, df=2) = 4.3027,
    # so the 95% interval is 2 ± 4.3027 * 1 / sqrt(3) = 2 ± 2.4841 -> [-0.4841, 4.4841].
    d = stats.describe([1.0, 2.0, 3.0])
    assert (d.n, d.mean, d.sd, d.median, d.min, d.max) == (3, 2.0, 1.0, 2.0, 1.0, 3.0)
    assert d.ci_low == pytest.approx(-0.48414, abs=1e-4)
    assert d.ci_high == pytest.approx(4.48414, abs=1e-4)


def test_describe_ignores_nan_and_has_no_interval_for_one_value():
    d = stats.describe([5.0, float("nan")])
    assert d.n == 1 and d.mean == 5.0
    assert math.isnan(d.sd) and math.isnan(d.ci_low)
    assert stats.describe([]).n == 0


def test_welch_known_values():
    # a = [1,2,3]: mean 2, var 1; b = [4,5,6,7]: mean 5.5, var 5/3.
    # se^2 = 1/3 + (5/3)/4 = 0.75; t = 3.5 / sqrt(0.75) = 4.04145;
    # df = 0.75^2 / ((1/3)^2/2 + (5/12)^2/3) = 0.5625 / 0.113426 = 4.95918;
    # t(0.975, 4.95918) = 2.57696, half-width 2.57696 * 0.866025 = 2.23171; two-sided p = 0.010077.
    d = stats.welch([1, 2, 3], [4, 5, 6, 7])
    assert d.diff == pytest.approx(3.5)
    assert d.t == pytest.approx(4.041452, rel=1e-6)
    assert d.df == pytest.approx(4.959184, rel=1e-6)
    assert d.ci_low == pytest.approx(3.5 - 2.231711, rel=1e-5)
    assert d.ci_high == pytest.approx(3.5 + 2.231711, rel=1e-5)
    assert d.p == pytest.approx(0.010077, abs=2e-6)
    assert not d.crosses_zero


def test_welch_needs_two_values_a_side():
    d = stats.welch([1.0], [2.0, 3.0])
    assert d.diff == pytest.approx(1.5) and not d.testable
    assert math.isnan(d.p) and d.crosses_zero


def test_ratio_delta_method_on_log_scale():
    # r = 5.5 / 2 = 2.75; squared CVs of the means: 1/(3*2^2) = 0.083333 and (5/3)/(4*5.5^2) = 0.013774;
    # se^2 = 0.097107; df = se^4 / (0.083333^2/2 + 0.013774^2/3) = 2.66722; t(0.975, 2.66722) = 3.41930;
    # interval 2.75 * exp(∓3.41930 * sqrt(0.097107)) = [0.94750, 7.98150].
    r = stats.ratio([1, 2, 3], [4, 5, 6, 7])
    assert r.ratio == pytest.approx(2.75)
    assert r.ci_low == pytest.approx(0.947503, rel=1e-5)
    assert r.ci_high == pytest.approx(7.981504, rel=1e-5)
    assert r.crosses_one


def test_ratio_undefined_for_nonpositive_or_missing():
    assert math.isnan(stats.ratio([float("nan")], [1.0]).ratio)
    assert math.isnan(stats.ratio([-1.0, 1.0], [1.0, 2.0]).ratio)


def test_olympic_mean_drops_fastest_and_slowest():
    # MLPerf: [10, 1, 4, 7, 100] -> drop 1 and 100 -> mean of 4, 7, 10 = 7.
    assert stats.olympic_mean([10, 1, 4, 7, 100]) == pytest.approx(7.0)
    assert stats.olympic_mean([2.0, 4.0]) == pytest.approx(3.0)
