"""Verdict wording against constructed cases."""

from __future__ import annotations

from bnbench.analysis import stats, verdict
from bnbench.analysis.decide import Design, decide
from bnbench.analysis.metric_info import MetricInfo

PSNR = MetricInfo("psnr_db", "PSNR", "dB", True)
LOSS = MetricInfo("val_loss", "val loss", "", False)
NO_ENERGY = stats.Ratio(float("nan"), float("nan"), float("nan"))


def line(a, b, metric=PSNR, energy=NO_ENERGY, note="", margin=None, **kwargs):
    decision = decide(a, {"bn": b}, Design(), margin, metric.higher_is_better, unit=metric.unit)["bn"]
    return verdict.sentence("bn", "control", stats.welch(a, b), metric, energy, stats.ratio([10, 10.2], [10, 10.2]),
                            decision, energy_note=note, **kwargs)


def test_clearly_worse():
    # control 30.0 ± 0.1, bn 28.0 ± 0.1: diff -2.00, se = sqrt(0.01/3 + 0.01/3) = 0.08165, df = min(3, 3) - 1
    # = 2, t(0.975, 2) = 4.3027 -> [-2.35, -1.65]; |t| = 24.5 -> p = 0.002.
    text = line([29.9, 30.0, 30.1], [27.9, 28.0, 28.1])
    assert text.startswith("bn: PSNR -2.00 dB [-2.35, -1.65] vs control, energy not measured, 1.00 x [")
    assert text.endswith("the measured time; worse (p=0.002, n=3: the interval is below zero)")


def test_clearly_better_for_lower_is_better_metric():
    # A lower loss is better: bn's 0.50 against control's 1.00 is better, though the difference is negative.
    text = line([0.99, 1.0, 1.01], [0.49, 0.5, 0.51], metric=LOSS)
    assert "val loss -0.500 [" in text and "; better (p<0.001, n=3: the interval is below zero)" in text


def test_within_noise_is_undecided_and_says_why():
    # diff +0.1 with sd 1 per side: se = sqrt(2/3) = 0.8165, t = 0.122, df = 2 -> p = 0.91;
    # the interval 0.1 ± 4.3027 * 0.8165 = [-3.41, +3.61] crosses zero. No min_effect: it cannot be 'the same'.
    text = line([29.0, 30.0, 31.0], [29.1, 30.1, 31.1])
    assert "+0.10 dB [-3.41, +3.61] vs" in text
    assert "; undecided (p=0.91, n=3: the interval holds zero and no min_effect says how small" in text
    assert "better" not in text and "worse" not in text


def test_interval_wider_than_the_effect_that_matters_says_how_many_more_seeds():
    # As above with min_effect 0.5 dB: the shown 95% interval [-3.41, +3.61] holds zero and is not inside ±0.5
    # (nor is the equivalence test's 90% one inside it). With sd 1 per side, 0.5 dB at 80% power and alpha 0.05
    # needs 65 seeds per variant (d = 0.5; the textbook 64 with df 2n - 2, one more with df n - 1): 62 more.
    text = line([29.0, 30.0, 31.0], [29.1, 30.1, 31.1], margin=0.5)
    assert "+0.10 dB [-3.41, +3.61] vs" in text
    assert ("undecided (p=0.91, n=3: the interval holds zero and is not inside +-0.5 dB, the effect that matters; "
            "about 62 more seeds per variant would decide it)") in text


def test_narrow_interval_inside_the_margin_is_equivalent():
    # diff +0.02, sd 0.1 per side: se = sqrt(2 * 0.01 / 3) = 0.08165, df = 2; 90% interval
    # 0.02 ± 2.9200 * 0.08165 = [-0.218, +0.258], inside ±0.5 dB: the same, by two one-sided tests.
    decision = decide([29.9, 30.0, 30.1], {"bn": [29.92, 30.02, 30.12]}, Design(), 0.5, True, unit="dB")["bn"]
    assert decision.word == "equivalent"
    assert decision.reason == "n=3: the interval is inside +-0.5 dB"
    assert (round(decision.ci_low, 3), round(decision.ci_high, 3)) == (-0.218, 0.258)
    # The sentence shows that 90% interval, named, since it is not the usual 95% one.
    text = verdict.sentence("bn", "control", stats.welch([29.9, 30.0, 30.1], [29.92, 30.02, 30.12]), PSNR,
                            NO_ENERGY, NO_ENERGY, decision)
    assert text.startswith("bn: PSNR +0.02 dB [-0.22, +0.26] (90% interval) vs control")
    # A margin of 0.15 dB is narrower than that interval: undecided, not equivalent.
    assert decide([29.9, 30.0, 30.1], {"bn": [29.92, 30.02, 30.12]}, Design(), 0.15, True)["bn"].word == "undecided"


def test_one_seed_never_names_a_winner():
    text = line([30.0], [25.0])
    assert text.startswith("bn: PSNR -5.00 dB vs control")  # no interval from one seed
    assert "undecided (too few seeds: n=1, one seed cannot tell a difference from seed luck)" in text


def test_estimated_energy_is_labelled():
    # energy 11.1 J (mean of 11.0, 11.2) against 10 J: 1.11 x; the text must say it is an estimate.
    energy = stats.ratio([10.0, 10.0], [11.0, 11.2])
    text = line([29.9, 30.0, 30.1], [29.9, 30.0, 30.1], energy=energy, note="estimate")
    assert "1.11 x [" in text and "the energy (estimate)" in text


def test_diverged_runs_are_counted():
    text = line([30, 30.1], [28.0], diverged=2, runs=3)
    assert text.endswith("; 2 of 3 runs diverged")
    assert line([30, 30.1], [28.0], diverged=1, failed=1, runs=3).endswith("; 1 of 3 runs diverged and 1 failed")
    assert line([30, 30.1], [28.0], failed=2, runs=3).endswith("; 2 of 3 runs failed")
