"""Alpha-spending boundaries against the published ones, and the decisions' power against the textbook sample
sizes."""

from __future__ import annotations

import pytest

from bnbench.analysis import power, spending

FIVE_LOOKS = (0.2, 0.4, 0.6, 0.8, 1.0)


def test_obrien_fleming_boundaries_match_the_published_ones():
    # Lan-DeMets O'Brien-Fleming spending, two-sided alpha 0.05, five equally spaced looks: 4.877, 3.357, 2.680,
    # 2.290, 2.031 (Jennison & Turnbull 2000, and R's gsDesign / ldbounds for the same design).
    bounds = spending.boundaries(0.05, FIVE_LOOKS, "obrien-fleming")
    assert [round(b, 3) for b in bounds] == [4.877, 3.357, 2.680, 2.290, 2.031]


def test_pocock_boundaries_match_the_published_ones():
    # Lan-DeMets Pocock-type spending alpha ln(1 + (e - 1) t), same looks: 2.438, 2.427, 2.410, 2.397, 2.386.
    bounds = spending.boundaries(0.05, FIVE_LOOKS, "pocock")
    assert [round(b, 3) for b in bounds] == [2.438, 2.427, 2.410, 2.397, 2.386]


def test_one_look_is_the_fixed_design():
    # A single look at t = 1 spends all of alpha: the boundary is z_{0.975} = 1.960 and the nominal level 0.05.
    assert round(spending.boundaries(0.05, (1.0,), "obrien-fleming")[0], 3) == 1.960
    assert spending.nominal_levels(0.05, (1.0,), "pocock")[0] == pytest.approx(0.05)


@pytest.mark.parametrize(("effect_sd", "seeds"), [(0.5, 65), (0.8, 27), (1.0, 18)])
def test_seeds_needed_is_the_textbook_two_sample_t(effect_sd, seeds):
    # Cohen (1988), table 2.4.1: two-sided alpha 0.05, power 0.80, d = 0.5 / 0.8 / 1.0 -> 64 / 26 / 17 per group
    # with the pooled t-test's df = 2n - 2. The decisions' df is n - 1 (it holds alpha whatever the spreads):
    # one seed more each, 65 / 27 / 18.
    assert power.seeds_needed(1.0, 1.0, effect_sd, 0.05, 0.8) == seeds
    assert power.seeds_needed(2.0, 2.0, 2 * effect_sd, 0.05, 0.8) == seeds  # only effect / sd matters


def test_power_just_reaches_80_percent_at_the_textbook_size():
    # d = 0.5: 65 seeds per side give 0.8016, 64 give 0.7953 (noncentral t, df = 64 and 63).
    assert power.welch_power(65, 1, 1, 0.5, 0.05) == pytest.approx(0.8016, abs=1e-4)
    assert power.welch_power(64, 1, 1, 0.5, 0.05) == pytest.approx(0.7953, abs=1e-4)


def test_detectable_effect_inverts_seeds_needed():
    # 65 seeds per side with sd 1 detect 0.499 sd with 80% power (just under 0.5).
    assert power.detectable_effect(65, 1.0, 1.0, 0.05, 0.8) == pytest.approx(0.499, abs=1e-3)


def test_no_spread_or_no_effect_plans_nothing():
    assert power.seeds_needed(float("nan"), 1.0, 0.5, 0.05) is None
    assert power.seeds_needed(1.0, 1.0, 0.0, 0.05) is None
