"""The CI gate of `bnbench compare A B --fail-on worse`: does B do worse than A beyond seed luck?

Every shared variant is tested on every gated quantity (the final metric, the energy, the measured time), B's
completed runs against A's. One test: Welch's t on B - A in the direction that is worse (lower metric when higher
is better, more energy, more time), less a tolerance of `tolerance` times A's mean for the two costs:

    p = 2 * P(T_df > (d_worse - tolerance * |mean_A|) / se), at most 1

The tolerance is for the costs only, which a busy or throttled machine moves between sessions while the code
stays the same; the metric's differences are the seeds'. With no tolerance p is Welch's two-sided p of a
difference in the worse direction, so a lone comparison fails exactly when `bnbench compare` calls it `worse`.

The tests of all variants and quantities are one family: Holm's step-down keeps the chance that two folders of
the same code fail the gate at `alpha` (without it, 2 variants x 3 quantities at 0.05 each would fail about one
same-code pair in four: 1 - 0.95^6 = 0.26).

The gate also fails, whatever the statistics, where B lost something A had: a variant A ran and B did not, a
variant with completed runs in A and none in B, a quantity measured in A and not in B. Pure functions of the two
folders' per-run figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from scipy.special import stdtr

from bnbench.analysis import stats, verdict
from bnbench.analysis.decide import family_alphas, look, n_text, p_text
from bnbench.analysis.metric_info import MetricInfo
from bnbench.analysis.summary import figure_values
from bnbench.errors import UserError

# What a user names -> (the per-run figure, its words in a sentence).
QUANTITIES: dict[str, tuple[str, str]] = {
    "metric": ("final", "metric"),
    "energy": ("energy_j", "energy"),
    "wall": ("measured_s", "measured time"),  # the runs' measured phases: start-up is not the variant's
}
FAIL_ON = ("worse",)


def parse_quantities(text: str) -> tuple[str, ...]:
    """'metric,energy' -> ('metric', 'energy'), in QUANTITIES' order. UserError for an unknown or empty name."""
    names = [n.strip() for n in text.split(",")]
    unknown = [n for n in names if n not in QUANTITIES]
    if unknown or not names:
        raise UserError(f"--gate-on takes a comma-separated list of {', '.join(QUANTITIES)} (got '{text}')")
    return tuple(q for q in QUANTITIES if q in names)


def check_fail_on(value: str) -> str:
    if value not in FAIL_ON:
        raise UserError(f"--fail-on must be {' or '.join(FAIL_ON)} (got '{value}')")
    return value


@dataclass(frozen=True)
class Check:
    """One gated test: `variant`'s `quantity` in B against A. `p` is NaN when it cannot be tested (fewer than 2
    completed runs with the figure on a side); `level` is Holm's level it was (or would have been) tested at."""

    variant: str
    quantity: str
    p: float
    level: float
    worse: bool
    text: str  # the comparison in words: 'bn in b: 1.20 x [1.15, 1.25] the energy of a'
    reason: str  # 'p<0.001, n=3'


@dataclass(frozen=True)
class Gate:
    """The gate's answer. `failures`: one sentence per reason to fail (empty: passed); `notes`: what was not
    tested and why."""

    quantities: tuple[str, ...]
    alpha: float
    tolerance: float  # a fraction of A's mean, for energy and wall time
    checks: list[Check]
    failures: list[str]
    notes: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def tested(self) -> int:
        return sum(not math.isnan(c.p) for c in self.checks)

    def headline(self) -> str:
        """One line: 'gate passed: no shared variant is worse beyond seed luck in metric, energy (4 tests, Holm
        at alpha 0.05)', or 'gate failed on ...:' before the failures."""
        what = ", ".join(QUANTITIES[q][1] + tolerated(q, self.tolerance) for q in self.quantities)
        family = f"{self.tested} test{'s' if self.tested != 1 else ''}, Holm at alpha {self.alpha:g}"
        if self.passed:
            return f"gate passed: no shared variant is worse beyond seed luck in {what} ({family})"
        return f"gate failed on {what} ({family}):"


def tolerated(quantity: str, tolerance: float) -> str:
    """' by more than 10%' for a cost gated with a tolerance, else ''."""
    return f" by more than {tolerance * 100:g}%" if tolerance and quantity != "metric" else ""


def p_worse(a: Sequence[float], b: Sequence[float], higher_is_better: bool, tolerance: float) -> float:
    """Welch's p that B is worse than A by more than `tolerance` x |mean A| (see the module doc); NaN when a
    side has fewer than 2 finite values."""
    s = look(a, b)
    if not s.testable:
        return math.nan
    mean_a = float(stats.finite(a).mean())
    excess = (-s.diff if higher_is_better else s.diff) - tolerance * abs(mean_a)
    if s.se == 0:
        return 0.0 if excess > 0 else 1.0
    return min(1.0, float(2 * stdtr(s.df, -excess / s.se)))


def describe(quantity: str, variant: str, label_a: str, label_b: str, a: Sequence[float], b: Sequence[float],
             metric: MetricInfo) -> str:
    """The comparison in words: the metric as a difference, energy and wall time as ratios."""
    if quantity == "metric":
        return f"{variant} in {label_b}: {verdict.difference_text(stats.welch(a, b), metric)} vs {label_a}"
    what = QUANTITIES[quantity][1]
    return f"{variant} in {label_b}: {verdict.ratio_text(stats.ratio(a, b), what)} of {label_a}"


def holm_levels(pvalues: list[float], alpha: float) -> list[float]:
    """Holm's level for each p (NaN ones, never tested, get the strictest); a p rejects when it and every smaller
    one are at most their levels."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    alphas = family_alphas(alpha, len(order)) if order else []
    levels = [alphas[0] if alphas else alpha] * len(pvalues)
    for j, (_, i) in enumerate(order):
        levels[i] = alphas[j]
    return levels


def holm_rejected(pvalues: list[float], levels: list[float]) -> set[int]:
    rejected: set[int] = set()
    for p, i in sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p)):
        if p > levels[i]:
            break
        rejected.add(i)
    return rejected


def gate(
    a: pd.DataFrame, b: pd.DataFrame, variants_a: list[str], variants_b: list[str], label_a: str, label_b: str,
    metric: MetricInfo, quantities: tuple[str, ...], alpha: float = 0.05, tolerance: float = 0.0,
) -> Gate:
    """Gate B against A. `a`, `b`: each folder's per-run figures (`Summary.figures`); `tolerance`: a fraction
    of A's mean (0.05 = 5%) by which energy and wall time may grow."""
    failures: list[str] = []
    notes: list[str] = []
    pending: list[tuple[str, str, list[float], list[float]]] = []
    for variant in variants_a:
        if variant not in variants_b:
            failures.append(f"{variant} ran in {label_a} and not in {label_b}")
            continue
        done_a, done_b = (int((f["variant"].eq(variant) & f["status"].eq("completed")).sum()) for f in (a, b))
        if done_a and not done_b:
            statuses = b.loc[b["variant"] == variant, "status"].value_counts()
            failures.append(f"{variant} in {label_b}: no run completed ("
                            f"{', '.join(f'{n} {s}' for s, n in statuses.items())}), {done_a} did in {label_a}")
            continue
        for quantity in quantities:
            column = QUANTITIES[quantity][0]
            xa = stats.finite(figure_values(a, variant, column)).tolist()
            xb = stats.finite(figure_values(b, variant, column)).tolist()
            what = QUANTITIES[quantity][1]
            if xa and not xb:
                failures.append(f"{variant} in {label_b}: {what} not measured (it was in {label_a})")
            elif not xa:
                notes.append(f"{variant}: {what} not tested ({'not measured' if column == 'energy_j' else 'no value'}"
                             f" in {label_a})")
            else:
                pending.append((variant, quantity, xa, xb))
    # Less energy and less time are better; the metric goes the task's way.
    pvalues = [p_worse(xa, xb, q == "metric" and metric.higher_is_better, 0.0 if q == "metric" else tolerance)
               for _, q, xa, xb in pending]
    levels = holm_levels(pvalues, alpha)
    rejected = holm_rejected(pvalues, levels)
    checks = []
    for i, ((variant, quantity, xa, xb), p) in enumerate(zip(pending, pvalues, strict=True)):
        s = look(xa, xb)
        text = describe(quantity, variant, label_a, label_b, xa, xb, metric)
        reason = f"{p_text(p)}, {n_text(s)}" if not math.isnan(p) else n_text(s)
        checks.append(Check(variant, quantity, p, levels[i], i in rejected, text, reason))
        if i in rejected:
            failures.append(f"{text}; worse{tolerated(quantity, tolerance)} beyond seed luck ({reason}; Holm level "
                            f"{levels[i]:.3g})")
        elif math.isnan(p):
            notes.append(f"{variant}: {QUANTITIES[quantity][1]} not tested ({n_text(s)}: one seed cannot tell a "
                         "difference from seed luck)")
        elif p <= alpha:  # what `compare` alone calls worse, which the family's level does not
            notes.append(f"{text}: worse at {p_text(p)} alone, not beyond Holm's level {levels[i]:.3g} for "
                         f"{len([q for q in pvalues if not math.isnan(q)])} tests")
    return Gate(quantities, alpha, tolerance, checks, failures, notes)
