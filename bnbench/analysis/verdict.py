"""Verdict wording: a comparison named by its reference and direction, and never a winner below the noise.

A difference is called better or worse only when both sides have at least two runs and the 95% Welch interval
of the difference excludes zero (equivalently, Welch's two-sided p < 0.05). Otherwise it is "no detectable
difference", with the reason (one seed, or an interval that crosses zero).
"""

from __future__ import annotations

import math

from bnbench.analysis.metric import MetricInfo
from bnbench.analysis.stats import Difference, Ratio

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no detectable difference"
NOT_MEASURED = "not measured"
NOT_REACHED = "target not reached"
NO_TARGET = "no target set"


def word(diff: Difference, higher_is_better: bool) -> str:
    """'better', 'worse' or 'no detectable difference' for b against a (see module doc)."""
    if not diff.testable or math.isnan(diff.diff) or diff.crosses_zero:
        return NO_DIFFERENCE
    return BETTER if (diff.diff > 0) == higher_is_better else WORSE


def p_text(p: float) -> str:
    """'p=0.003', 'p<0.001', or '' when there is no test."""
    if math.isnan(p):
        return ""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def n_text(diff: Difference) -> str:
    return f"n={diff.n_b}" if diff.n_a == diff.n_b else f"n={diff.n_b} vs {diff.n_a}"


def reason(diff: Difference) -> str:
    """What the word rests on: '(p=0.003, n=3)' or why there is no test."""
    if diff.n_a == 0 or diff.n_b == 0:
        return "(no completed run to compare)"
    if not diff.testable:
        return f"({n_text(diff)}: one seed cannot tell a difference from seed luck)"
    return f"({p_text(diff.p)}, {n_text(diff)})"


def ratio_text(r: Ratio, what: str, source_note: str = "") -> str:
    """'1.02 x [0.98, 1.06] the energy', '0.97 x the wall time' (no interval from one seed), or 'X not measured'."""
    if math.isnan(r.ratio):
        return f"{what} {NOT_MEASURED}"
    interval = "" if math.isnan(r.ci_low) else f" [{r.ci_low:.2f}, {r.ci_high:.2f}]"
    note = f" ({source_note})" if source_note else ""
    return f"{r.ratio:.2f} x{interval} the {what}{note}"


def difference_text(diff: Difference, metric: MetricInfo) -> str:
    """'PSNR -1.90 dB [-2.60, -1.20]' (no interval when there is none)."""
    if math.isnan(diff.diff):
        return f"{metric.label} n/a"
    text = f"{metric.label} {metric.value(diff.diff, signed=True)}"
    if not math.isnan(diff.ci_low):
        text += f" [{diff.ci_low:+.{metric.decimals}f}, {diff.ci_high:+.{metric.decimals}f}]"
    return text


def sentence(
    variant: str,
    baseline: str,
    quality: Difference,
    metric: MetricInfo,
    energy: Ratio,
    wall: Ratio,
    energy_note: str = "",
    diverged: int = 0,
    runs: int = 0,
) -> str:
    """The one-line verdict, e.g.
    'bn: PSNR -1.90 dB [-2.60, -1.20] vs control, 1.02 x [0.98, 1.06] the energy, 1.01 x [0.99, 1.03] the wall
    time; worse (p=0.003, n=3)'. `energy_note` is 'estimate' for estimated energy.
    """
    text = (
        f"{variant}: {difference_text(quality, metric)} vs {baseline}, {ratio_text(energy, 'energy', energy_note)}, "
        f"{ratio_text(wall, 'wall time')}; {word(quality, metric.higher_is_better)} {reason(quality)}"
    )
    if diverged:
        text += f"; {diverged} of {runs} runs diverged"
    return text
