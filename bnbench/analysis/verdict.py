"""Verdict wording: a comparison named by its reference and direction, and never a winner below the noise.

The words come from `decide.py` (better, worse, equivalent, undecided, each with its reason); this module only
phrases them. Figures that cannot be compared get a word of their own: not measured, target not reached, no
target set.
"""

from __future__ import annotations

import math

from bnbench.analysis.decide import BETTER, EQUIVALENT, UNDECIDED, WORSE, Verdict, p_text
from bnbench.analysis.metric_info import MetricInfo
from bnbench.analysis.stats import Difference, Ratio

__all__ = ["BETTER", "EQUIVALENT", "UNDECIDED", "WORSE", "Verdict", "p_text"]

NOT_MEASURED = "not measured"
NOT_REACHED = "target not reached"
NO_TARGET = "no target set"


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
    decision: Verdict,
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
        f"{ratio_text(wall, 'wall time')}; {decision.word} ({decision.reason})"
    )
    if diverged:
        text += f"; {diverged} of {runs} runs diverged"
    return text
