"""The CI gate's statistics (analysis/gate.py) on per-run figures written by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bnbench.analysis.gate import gate, holm_levels, holm_rejected, p_worse
from bnbench.analysis.metric_info import resolve

PSNR = resolve("psnr_db", "super-resolution")


def figures(runs: dict[str, dict[str, list[float]]], statuses: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Per-run figures: runs[variant][column] lists one value per seed."""
    rows = []
    for variant, columns in runs.items():
        n = len(next(iter(columns.values())))
        for seed in range(n):
            status = (statuses or {}).get(variant, ["completed"] * n)[seed]
            rows.append({"variant": variant, "seed": seed, "status": status,
                         **{c: values[seed] for c, values in columns.items()}})
    return pd.DataFrame(rows)


def test_p_worse_is_welch_in_the_worse_direction_and_shifts_by_the_tolerance():
    # Energy 120, 122, 124 J in A and 132, 134, 136 J in B: difference +12 J, sd 2 on each side, so
    # se = sqrt(4/3 + 4/3) = 1.633; t = 7.35 on the decisions' conservative df, min(n) - 1 = 2 (Welch's would be
    # 4): two-sided p = 2 * P(T2 > 7.35) = 0.0180.
    assert p_worse([120, 122, 124], [132, 134, 136], False, 0.0) == pytest.approx(0.018019, abs=1e-6)
    # A 5% tolerance moves the bar by 0.05 x 122 = 6.1 J: t = (12 - 6.1) / 1.633 = 3.61, p = 0.0688.
    assert p_worse([120, 122, 124], [132, 134, 136], False, 0.05) == pytest.approx(0.0688, abs=1e-4)
    # Less energy in B is never worse: p is capped at 1.
    assert p_worse([120, 122, 124], [110, 112, 114], False, 0.0) == 1.0
    # Higher PSNR is better: B lower by 1.0 dB, sd 0.2 each side, se = 0.1633, t = 6.12, p = 0.0256 on 2 df.
    assert p_worse([29.0, 29.2, 29.4], [28.0, 28.2, 28.4], True, 0.0) == pytest.approx(0.025645, abs=1e-6)
    # One seed on a side: no test.
    assert math.isnan(p_worse([120], [130, 131], False, 0.0))


def test_holm_steps_down_and_stops_at_the_first_p_above_its_level():
    # m = 3 testable: levels 0.05/3, 0.05/2, 0.05/1 in order of p; NaN gets the strictest level, never rejects.
    p = [0.02, 0.001, math.nan, 0.3]
    levels = holm_levels(p, 0.05)
    assert levels == pytest.approx([0.025, 0.05 / 3, 0.05 / 3, 0.05])
    assert holm_rejected(p, levels) == {0, 1}
    assert holm_rejected([0.02, 0.03, 0.04], holm_levels([0.02, 0.03, 0.04], 0.05)) == set()  # 0.02 > 0.0167


SAME = {"final": [30.0, 30.2, 30.4], "energy_j": [100.0, 104.0, 108.0], "measured_s": [30.0, 31.0, 32.0]}


def test_a_regression_alone_fails_and_the_family_of_six_forgives_it():
    # bn's energy: A 100, 104, 108 J, B 116, 120, 124 J: +16 J, se = sqrt(16/3 * 2) = 3.266, t = 4.90, df = 2,
    # p = 0.039: worse at 0.05 alone. Among 2 variants x 3 quantities it must beat Holm's 0.05 / 6 = 0.0083.
    # The ratio 120 / 104 = 1.154 is shown with its delta-method interval, as `compare` shows it.
    a = figures({"control": SAME, "bn": SAME})
    b = figures({"control": SAME, "bn": {**SAME, "energy_j": [116.0, 120.0, 124.0]}})
    alone = gate(a[a["variant"] == "bn"], b, ["bn"], ["control", "bn"], "a", "b", PSNR, ("energy",))
    assert not alone.passed and alone.tested == 1
    assert alone.failures == ["bn in b: 1.15 x [1.06, 1.25] the energy of a; worse beyond seed luck "
                              "(p=0.039, n=3; Holm level 0.05)"]
    family = gate(a, b, ["control", "bn"], ["control", "bn"], "a", "b", PSNR, ("metric", "energy", "wall"))
    assert family.passed and family.tested == 6
    assert family.notes == ["bn in b: 1.15 x [1.06, 1.25] the energy of a: worse at p=0.039 alone, not beyond "
                            "Holm's level 0.00833 for 6 tests"]
    assert family.headline() == ("gate passed: no shared variant is worse beyond seed luck in metric, energy, "
                                 "measured time (6 tests, Holm at alpha 0.05)")


def test_what_b_lost_fails_whatever_the_statistics():
    a = figures({"control": SAME, "bn": SAME, "gn": SAME})
    b = figures({"control": {**SAME, "energy_j": [math.nan] * 3}, "bn": SAME},
                statuses={"bn": ["diverged", "diverged", "failed"]})
    result = gate(a, b, ["control", "bn", "gn"], ["control", "bn"], "a", "b", PSNR, ("metric", "energy"))
    assert result.failures == [
        "control in b: energy not measured (it was in a)",
        "bn in b: no run completed (2 diverged, 1 failed), 3 did in a",
        "gn ran in a and not in b",
    ]
    assert result.tested == 1  # control's metric


def test_quantities_without_a_test_are_notes_not_passes_in_disguise():
    a = figures({"control": {**SAME, "energy_j": [math.nan] * 3}, "bn": {k: v[:1] for k, v in SAME.items()}})
    result = gate(a, a, ["control", "bn"], ["control", "bn"], "a", "a", PSNR, ("metric", "energy"))
    assert result.passed and result.tested == 1
    assert result.notes == ["control: energy not tested (not measured in a)",
                            "bn: metric not tested (n=1: one seed cannot tell a difference from seed luck)",
                            "bn: energy not tested (n=1: one seed cannot tell a difference from seed luck)"]
