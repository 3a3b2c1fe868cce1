"""Verdict wording against constructed cases."""

from __future__ import annotations

from bnbench.analysis import stats, verdict
from bnbench.analysis.metric import MetricInfo

PSNR = MetricInfo("psnr_db", "PSNR", "dB", True)
LOSS = MetricInfo("val_loss", "val loss", "", False)
NO_ENERGY = stats.Ratio(float("nan"), float("nan"), float("nan"))


def line(a, b, metric=PSNR, energy=NO_ENERGY, note=""):
    return verdict.sentence("bn", "control", stats.welch(a, b), metric, energy, stats.ratio([10, 10.2], [10, 10.2]),
                            energy_note=note)


def test_clearly_worse():
    # control 30.0 ± 0.1, bn 28.0 ± 0.1: diff -2.00, se = sqrt(0.01/3 + 0.01/3) = 0.08165, df = 4,
    # t(0.975, 4) = 2.7764 -> [-2.23, -1.77]; |t| = 24.5 -> p < 0.001.
    text = line([29.9, 30.0, 30.1], [27.9, 28.0, 28.1])
    assert text.startswith("bn: PSNR -2.00 dB [-2.23, -1.77] vs control, energy not measured, 1.00 x [")
    assert text.endswith("the wall time; worse (p<0.001, n=3)")


def test_clearly_better_for_lower_is_better_metric():
    # A lower loss is better: bn's 0.50 against control's 1.00 is better, though the difference is negative.
    text = line([0.99, 1.0, 1.01], [0.49, 0.5, 0.51], metric=LOSS)
    assert "val loss -0.500 [" in text and "; better (p<0.001, n=3)" in text


def test_within_noise_says_no_detectable_difference():
    # diff +0.1 with sd 1 per side: se = sqrt(2/3) = 0.8165, t = 0.122, df = 4 -> p = 0.908;
    # the interval 0.1 ± 2.7764 * 0.8165 = [-2.17, +2.37] crosses zero.
    text = line([29.0, 30.0, 31.0], [29.1, 30.1, 31.1])
    assert "+0.10 dB [-2.17, +2.37]" in text
    assert "; no detectable difference (p=0.91, n=3)" in text
    assert "better" not in text and "worse" not in text


def test_one_seed_never_names_a_winner():
    text = line([30.0], [25.0])
    assert text.startswith("bn: PSNR -5.00 dB vs control")  # no interval from one seed
    assert "no detectable difference (n=1: one seed cannot tell a difference from seed luck)" in text


def test_estimated_energy_is_labelled():
    # energy 11.1 J (mean of 11.0, 11.2) against 10 J: 1.11 x; the text must say it is an estimate.
    energy = stats.ratio([10.0, 10.0], [11.0, 11.2])
    text = line([29.9, 30.0, 30.1], [29.9, 30.0, 30.1], energy=energy, note="estimate")
    assert "1.11 x [" in text and "the energy (estimate)" in text


def test_diverged_runs_are_counted():
    text = verdict.sentence("bn", "control", stats.welch([30, 30.1], [28.0]), PSNR, NO_ENERGY, NO_ENERGY,
                            diverged=2, runs=3)
    assert text.endswith("; 2 of 3 runs diverged")
