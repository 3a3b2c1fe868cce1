"""Verdict wording: a comparison named by its reference and direction, and never a winner below the noise.

The words come from `decide.py` (better, worse, equivalent, undecided, each with its reason); this module only
phrases them. Figures that cannot be compared get a word of their own: not measured, target not reached, no
target set.
"""

from __future__ import annotations

import math

from bnbench.analysis.decide import BETTER, EQUIVALENT, UNDECIDED, WORSE, Verdict, p_text
from bnbench.analysis.metric_info import MetricInfo
from bnbench.analysis.stats import MIN_INTERVAL_N, Difference, Ratio

__all__ = ["BETTER", "EQUIVALENT", "UNDECIDED", "WORSE", "Verdict", "p_text"]

NOT_MEASURED = "not measured"
NOT_REACHED = "target not reached"
NO_TARGET = "no target set"


def no_interval(n: int) -> str:
    """What stands for an interval that `n` seeds (fewer than stats.MIN_INTERVAL_N, at least 2) cannot give."""
    return f"n/a: {n} seeds cannot bound this"


def interval_or_why(low: float, high: float, n: int, fmt: str) -> str:
    """' [low, high]' in `fmt` ('+.2f'), ' [n/a: 2 seeds cannot bound this]', or '' (one seed or none)."""
    if not math.isnan(low):
        return f" [{low:{fmt}}, {high:{fmt}}]"
    return f" [{no_interval(n)}]" if 2 <= n < MIN_INTERVAL_N else ""


def ratio_text(r: Ratio, what: str, source_note: str = "") -> str:
    """'1.02 x [0.98, 1.06] the energy', '0.97 x the measured time' (no interval from one seed), '0.92 x [n/a: 2 seeds
    cannot bound this] the energy', or 'X not measured'."""
    if math.isnan(r.ratio):
        return f"{what} {NOT_MEASURED}"
    interval = interval_or_why(r.ci_low, r.ci_high, r.n, ".2f")
    note = f" ({source_note})" if source_note else ""
    return f"{r.ratio:.2f} x{interval} the {what}{note}"


def difference_text(diff: Difference, metric: MetricInfo) -> str:
    """'PSNR -1.90 dB [-2.60, -1.20]' (no interval from one seed; 'n/a: 2 seeds cannot bound this' from two)."""
    if math.isnan(diff.diff):
        return f"{metric.label} n/a"
    text = f"{metric.label} {metric.value(diff.diff, signed=True)}"
    return text + interval_or_why(diff.ci_low, diff.ci_high, min(diff.n_a, diff.n_b), f"+.{metric.decimals}f")


def decision_text(decision: Verdict, quality: Difference, metric: MetricInfo) -> str:
    """The difference with the interval the decision used: 'PSNR +2.50 dB [-0.12, +5.12] (98.3% interval,
    Holm-adjusted)'; the label is left out for a plain 95% interval. Without a decision interval (too few seeds),
    `quality`'s difference alone."""
    label = decision.interval_label
    few = min(quality.n_a, quality.n_b) < MIN_INTERVAL_N and not decision.decided  # no bound worth printing
    if not label or math.isnan(decision.diff) or few:
        return difference_text(quality, metric)
    d = metric.decimals
    text = (f"{metric.label} {metric.value(decision.diff, signed=True)} "
            f"[{decision.ci_low:+.{d}f}, {decision.ci_high:+.{d}f}]")
    return text if label == "95% interval" else f"{text} ({label})"


def word_text(decision: Verdict) -> str:
    """The word and the test it rests on, for a table cell: 'worse (p=0.003)', or with a level other than a single
    look's 0.05, 'undecided (p=0.039 > 0.025, Holm-adjusted)'."""
    p = p_text(decision.p)
    if not p:
        return decision.word
    if decision.basis or (math.isfinite(decision.level) and abs(decision.level - 0.05) > 1e-12):
        side = "<=" if decision.p <= decision.level else ">"
        p += f" {side} {decision.level:.2g}" + (f", {decision.basis}" if decision.basis else "")
    return f"{decision.word} ({p})"


def verdict_cell(decision: Verdict, decimals: int) -> str:
    """A comparison table's verdict with the interval it used: 'undecided: [-1.07, +9.07], 97.5% interval,
    Holm-adjusted'; the word alone where there is no interval."""
    label = decision.interval_label
    if not label:
        return decision.word
    return f"{decision.word}: [{decision.ci_low:+.{decimals}f}, {decision.ci_high:+.{decimals}f}], {label}"


def sentence(
    variant: str,
    baseline: str,
    quality: Difference,
    metric: MetricInfo,
    energy: Ratio,
    wall: Ratio,
    decision: Verdict,
    energy_note: str = "",
    diverged: int = 0,
    runs: int = 0,
    failed: int = 0,
) -> str:
    """The one-line verdict, e.g.
    'bn: PSNR -1.90 dB [-2.60, -1.20] vs control, 1.02 x [0.98, 1.06] the energy, 1.01 x [0.99, 1.03] the wall
    time; worse (p=0.003, n=3: the interval is below zero)'. The difference's interval is the one the decision
    used (decision_text), so the reason's 'the interval' is the one printed. `energy_note` is 'estimate' for
    estimated energy; `diverged` and `failed` count the variant's runs of those statuses out of `runs`.
    """
    text = (
        f"{variant}: {decision_text(decision, quality, metric)} vs {baseline}, "
        f"{ratio_text(energy, 'energy', energy_note)}, {ratio_text(wall, 'measured time')}; "
        f"{decision.word} ({decision.reason})"
    )
    if diverged:
        text += f"; {diverged} of {runs} runs diverged" + (f" and {failed} failed" if failed else "")
    elif failed:
        text += f"; {failed} of {runs} runs failed"
    return text
