"""The decision procedure itself, simulated: error rates of adaptive seeds, Holm across variants, and decisions
that stand once reached.

2,000 simulated experiments per case, seeded: seed-to-seed sd 1, min_effect 1 (one sd), rounds 3 to 20, alpha
0.05, O'Brien-Fleming spending. The simulation error of a 5% rate over 2,000 experiments is
sqrt(0.05 * 0.95 / 2000) = 0.0049; the tests allow two of them.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from bnbench.analysis.decide import Design, decide

EXPERIMENTS = 2000
ALPHA = 0.05
FALSE_RATE_LIMIT = ALPHA + 2 * (ALPHA * (1 - ALPHA) / EXPERIMENTS) ** 0.5  # 0.0597
ADAPTIVE = Design(ALPHA, 3, 20, "obrien-fleming")
NAIVE = Design(ALPHA, 3, 20, "none")  # every look at the full alpha: stop as soon as p < 0.05


@functools.cache
def simulate(design: Design, true_difference: float, margin: float = 1.0) -> Counter:
    """Verdict words over EXPERIMENTS experiments of up to n_max rounds (the procedure looks after each)."""
    rng = np.random.default_rng(2026)
    words: Counter = Counter()
    for _ in range(EXPERIMENTS):
        control = rng.normal(0.0, 1.0, design.n_max)
        variant = rng.normal(true_difference, 1.0, design.n_max)
        words[decide(control, {"v": variant}, design, margin, True)["v"].word] += 1
    return words


def false_rate(words: Counter) -> float:
    return (words["better"] + words["worse"]) / EXPERIMENTS


def test_no_true_difference_says_better_or_worse_at_most_alpha_of_the_time():
    assert false_rate(simulate(ADAPTIVE, 0.0)) <= FALSE_RATE_LIMIT


def test_the_naive_stop_at_p_below_alpha_rule_fails_the_same_test():
    # Peeking after each of 18 rounds at the full 0.05 calls about one experiment in five a winner.
    assert false_rate(simulate(NAIVE, 0.0)) > FALSE_RATE_LIMIT


def test_a_true_difference_of_min_effect_is_found_within_max_seeds():
    words = simulate(ADAPTIVE, 1.0)
    assert words["better"] / EXPERIMENTS >= 0.75
    # ... and it is almost never called the same (that would need the interval inside +-1 around a true 1).
    assert words["equivalent"] / EXPERIMENTS <= FALSE_RATE_LIMIT


def test_no_true_difference_is_called_equivalent_in_most_experiments():
    assert simulate(ADAPTIVE, 0.0)["equivalent"] / EXPERIMENTS >= 0.7


def test_holm_step_down_across_a_family():
    # Three seeds per side, sd 1: t = shift / sqrt(2/3), df = min(3, 3) - 1 = 2 (Hsu). Shift 8 -> t = 9.80,
    # p = 0.0103; shift 4 -> t = 4.90, p = 0.0392. One look at alpha 0.05.
    control = [0.0, 1.0, 2.0]
    far, near, same = [8.0, 9.0, 10.0], [4.0, 5.0, 6.0], [0.0, 1.0, 2.0]
    design = Design(ALPHA, 3, 3)
    alone = decide(control, {"near": near}, design, None, True)
    assert alone["near"].word == "better" and alone["near"].reason == "p=0.039, n=3: the interval is above zero"
    # Two variants: 0.0103 <= 0.05 / 2, then 0.0392 <= 0.05 / 1: both better (Bonferroni would stop at 0.025).
    pair = decide(control, {"far": far, "near": near}, design, None, True)
    assert [pair[v].word for v in ("far", "near")] == ["better", "better"]
    # Three: 0.0103 <= 0.05 / 3, then 0.0392 > 0.05 / 2: near is undecided, and so is the third, stopped at the
    # same level. Each shows the interval its level gives: near's 97.5% one, 4 +- t(0.9875, 2) * sqrt(2/3)
    # = 4 +- 6.205 * 0.8165 = [-1.07, +9.07], which holds zero, as its reason says.
    three = decide(control, {"far": far, "near": near, "same": same}, design, None, True)
    assert [three[v].word for v in ("far", "near", "same")] == ["better", "undecided", "undecided"]
    assert three["near"].level == three["same"].level == ALPHA / 2 and three["far"].level == ALPHA / 3
    assert (round(three["near"].ci_low, 2), round(three["near"].ci_high, 2)) == (-1.07, 9.07)
    assert three["near"].interval_label == "97.5% interval, Holm-adjusted"


def test_a_decision_stands_once_reached():
    # Naive levels for simplicity: after 2 rounds the variant is 5 above with almost no spread (p < 0.001), so
    # the procedure stops there; later rounds that would undo it are not looked at as new evidence.
    design = Design(ALPHA, 2, 4, "none")
    verdict = decide([0.0, 0.1, 0.0, 0.1], {"v": [5.0, 5.1, -20.0, -20.0]}, design, None, True)["v"]
    assert (verdict.word, verdict.n) == ("better", 2)


def test_early_looks_of_obrien_fleming_are_strict():
    # A clear lead of 6 after 3 of 20 rounds (t = 7.35, df = 4): its p = 0.0018 is far above the first look's
    # nominal level (about 1.4e-8), so adaptive seeds do not stop on 3 seeds, while a fixed design of 3 decides.
    control, variant = [0.0, 1.0, 2.0], [6.0, 7.0, 8.0]
    assert ADAPTIVE.level(3, ALPHA) < 1e-7
    assert decide(control, {"v": variant}, ADAPTIVE, None, True, rounds=3)["v"].word == "undecided"
    assert decide(control, {"v": variant}, Design(ALPHA, 3, 3), None, True)["v"].word == "better"
