"""Deciding comparisons: better, worse, equivalent or undecided, for a family of variants against one baseline,
looked at once (a fixed list of seeds) or after every round of seeds (adaptive seeds).

One comparison at one look, with Welch's t on the seeds so far and a two-sided nominal level `level`:

- `better` / `worse`: p <= level (the level-interval of the difference excludes zero);
- `equivalent`: a margin (`[stats] min_effect`) is set and the interval at twice the level lies inside
  +-margin: two one-sided tests (TOST). With one look at alpha = 0.05 that is the 90% interval;
- otherwise `undecided`, saying why: too few seeds, or an interval wider than the effect that matters.

Several variants make a family: Holm's step-down keeps the chance of any false `better`/`worse` at alpha (and
of any false `equivalent` at alpha). Several looks: each look's level comes from an alpha-spending boundary
(`spending.py`), and a decision, once reached, stands (the procedure stops there; its error rate counts the
first crossing). Holm's alpha of a decided comparison passes to the others, as in Maurer & Bretz's graphical
procedure for group-sequential designs (2013). A fixed list of seeds is the one-look case: level = alpha.

Degrees of freedom: Welch's t statistic, but with Hsu's conservative df = min(n_a, n_b) - 1 rather than the
Welch-Satterthwaite estimate, and one fewer (at least 1) when the design looks more than once. With 3 to 5 seeds a
side and one spread several times the other, Welch-Satterthwaite's df is too large at the small levels Holm and the
spending boundaries test at, and 18 looks add that up: under no difference, control sd 1 against variant sd 5,
Pocock's rate of false better/worse was 0.073 and O'Brien-Fleming's 0.058 (20,000 simulated experiments, seeds 3
to 20). tests/analysis/test_alpha_spreads.py holds both at alpha over sd ratios 1 to 5; docs/explanation/verdicts.md
states what it costs in power.

Pure functions of the values; `Verdict` objects carry the word and the reason for rendering.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy.special import stdtr, stdtrit

from bnbench.analysis import power, spending

BETTER, WORSE, EQUIVALENT, UNDECIDED = "better", "worse", "equivalent", "undecided"
DECIDED = (BETTER, WORSE, EQUIVALENT)


@dataclass(frozen=True)
class Design:
    """When comparisons may be decided. `alpha`: two-sided, for the whole family; looks after rounds
    `n_min`..`n_max` (seeds per variant); `spending`: 'obrien-fleming', 'pocock', or 'none' (every look at the
    full alpha: the naive rule that peeking breaks, kept for the simulation tests). n_min == n_max: one look."""

    alpha: float = 0.05
    n_min: int = 2
    n_max: int = 2
    spending: str = "obrien-fleming"
    power: float = 0.8

    @property
    def sequential(self) -> bool:
        return self.n_max > self.n_min

    def level(self, n: int, alpha: float) -> float:
        """The two-sided nominal level of the look after `n` rounds, for a test at familywise `alpha`."""
        if not self.sequential or self.spending == "none":
            return alpha
        levels = spending.nominal_levels(alpha, self.fractions, self.spending)
        return levels[min(max(n, self.n_min), self.n_max) - self.n_min]

    @property
    def fractions(self) -> tuple[float, ...]:
        """The information fraction n / n_max of each look."""
        return tuple(k / self.n_max for k in range(self.n_min, self.n_max + 1))


def decision_df(n_a: int, n_b: int, sequential: bool = False) -> float:
    """The degrees of freedom of a decision's t: min(n_a, n_b) - 1 (Hsu), less one (at least 1) for a design that
    looks after every round (the looks' t statistics, each with its own variance estimate, add up to more than
    the boundaries spend at the same df)."""
    df = min(n_a, n_b) - 1.0
    return max(df - 1.0, 1.0) if sequential else df


@dataclass(frozen=True)
class Look:
    """Welch's statistics of b - a at one look: n per side, the difference, its standard error and the df of the
    decision (decision_df)."""

    n_a: int
    n_b: int
    diff: float
    se: float
    df: float
    sd_a: float
    sd_b: float

    @property
    def testable(self) -> bool:
        return self.n_a >= 2 and self.n_b >= 2 and math.isfinite(self.diff)

    def p(self) -> float:
        """Welch's two-sided p (0 or 1 when neither side has any spread)."""
        if not self.testable:
            return math.nan
        if self.se == 0:
            return 1.0 if self.diff == 0 else 0.0
        return float(2 * stdtr(self.df, -abs(self.diff) / self.se))

    def p_equivalent(self, margin: float) -> float:
        """TOST: the larger of the two one-sided p-values of |b - a| >= margin."""
        if not self.testable:
            return math.nan
        if self.se == 0:
            return 0.0 if abs(self.diff) < margin else 1.0
        low = stdtr(self.df, -(self.diff + margin) / self.se)
        high = stdtr(self.df, (self.diff - margin) / self.se)
        return float(max(low, high))

    def interval(self, level: float) -> tuple[float, float]:
        """diff +- t_{1-level/2, df} se: the two-sided (1 - level) interval."""
        if not self.testable:
            return math.nan, math.nan
        half = 0.0 if self.se == 0 else float(stdtrit(self.df, 1 - level / 2)) * self.se
        return self.diff - half, self.diff + half


def _mean_sd(x: list[float]) -> tuple[float, float]:
    mean = math.fsum(x) / len(x)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (len(x) - 1)) if len(x) > 1 else math.nan


def look(a: Sequence[float], b: Sequence[float], sequential: bool = False) -> Look:
    """Welch's parts of b against a (NaN values dropped), with decision_df's degrees of freedom. Plain floats: a
    few seeds are faster without numpy."""
    xa = [float(v) for v in a if math.isfinite(v)]
    xb = [float(v) for v in b if math.isfinite(v)]
    na, nb = len(xa), len(xb)
    if not na or not nb:
        return Look(na, nb, math.nan, math.nan, math.nan, math.nan, math.nan)
    (ma, sa), (mb, sb) = _mean_sd(xa), _mean_sd(xb)
    if na < 2 or nb < 2:
        return Look(na, nb, mb - ma, math.nan, math.nan, math.nan, math.nan)
    se2 = sa**2 / na + sb**2 / nb
    return Look(na, nb, mb - ma, math.sqrt(se2), decision_df(na, nb, sequential), sa, sb)


@dataclass(frozen=True)
class Verdict:
    """A comparison's word and what it rests on.

    `word`: better | worse | equivalent | undecided. `reason`: one phrase, worded from the interval, e.g.
    'p=0.003, n=5' or 'too few seeds (n=1)'. `n`: seeds per variant at the deciding (or last) look; `level`: the
    two-sided nominal level of the test at that look; `diff`, `ci_low`/`ci_high`: the difference at that look
    and its interval at that level (NaN without one): the interval the decision used, which a verdict shows;
    `basis`: what set the level besides alpha ('Holm-adjusted', 'look 4 of 18', both, or ''); `p`: the t-test's
    p there; `more_seeds`: for an undecided comparison with a margin, seeds per variant still needed for the
    design's power (None when unknown).
    """

    word: str
    reason: str
    n: int = 0
    level: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan
    more_seeds: int | None = None
    diff: float = math.nan
    basis: str = ""

    @property
    def decided(self) -> bool:
        return self.word in DECIDED

    @property
    def interval_label(self) -> str:
        """'95% interval', '98.3% interval, Holm-adjusted', '99.6% interval at look 2 of 18'; '' without one."""
        if math.isnan(self.ci_low) or math.isnan(self.level):
            return ""
        text = f"{confidence_text(self.level)} interval"
        return f"{text}, {self.basis}" if self.basis else text


def confidence_text(level: float) -> str:
    """The confidence of a two-sided test at `level`: 0.05 -> '95%', 0.0167 -> '98.3%', 0.00123 -> '99.88%'."""
    percent = 100 * (1 - level)
    digits = 0
    while digits < 6 and round(percent, digits) >= 100 - 0.5 * 10**-digits:
        digits += 1
    digits = max(digits, 0 if float(percent).is_integer() else 1)
    return f"{percent:.{digits}f}%"


def p_text(p: float) -> str:
    """'p=0.003', 'p<0.001', or '' when there is no test."""
    if math.isnan(p):
        return ""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def n_text(x: Look) -> str:
    return f"n={x.n_b}" if x.n_a == x.n_b else f"n={x.n_b} vs {x.n_a}"


def _holm(
    pvalues: dict[str, float], alphas: list[float], level_of: Callable[[float], float]
) -> tuple[set[str], dict[str, float]]:
    """Holm's step-down over `pvalues` (NaN never rejects): the j-th smallest is tested at `level_of(alphas[j])`;
    the first that fails stops the rest. Returns (rejected, each one's Holm-adjusted level: the level it was tested
    at, or for those after the stop, the level that stopped them, which their p exceeds too)."""
    order = sorted((p, name) for name, p in pvalues.items() if not math.isnan(p))
    rejected: set[str] = set()
    levels: dict[str, float] = {}
    stopped_at: float | None = None
    for j, (p, name) in enumerate(order):
        levels[name] = level_of(alphas[j]) if stopped_at is None else stopped_at
        if stopped_at is None and p <= levels[name]:
            rejected.add(name)
        elif stopped_at is None:
            stopped_at = levels[name]
    for name, p in pvalues.items():
        if math.isnan(p):
            levels[name] = level_of(alphas[0])
    return rejected, levels


def family_alphas(alpha: float, size: int) -> list[float]:
    """Holm's levels alpha / size, alpha / (size - 1), ..., alpha."""
    return [alpha / (size - j) for j in range(size)]


def decide(
    baseline: Sequence[float], variants: dict[str, Sequence[float]], design: Design, margin: float | None,
    higher_is_better: bool, rounds: int | None = None, looks: Sequence[int] | None = None, unit: str = "",
) -> dict[str, Verdict]:
    """The verdict of each variant against the baseline. Values are per round (index = round; NaN where a run
    did not complete). `rounds`: how many rounds have run (default: all values). `looks`: the rounds after which
    the data were looked at (default: every round from n_min, or only the last for a one-look design); a
    decision at an earlier look stands. `unit` follows the margin in the reasons ('0.1 dB')."""
    within = "" if margin is None else f"+-{margin:.4g}{' ' + unit if unit else ''}"
    base = [float(v) for v in baseline]
    values = {name: [float(x) for x in v] for name, v in variants.items()}
    rounds = max([len(base), *(len(v) for v in values.values())]) if rounds is None else rounds
    if looks is None:
        looks = range(design.n_min, rounds + 1) if design.sequential else [rounds]
    looks = [n for n in looks if 1 <= n <= rounds]
    size = len(values)
    decided: dict[str, Verdict] = {}
    last: dict[str, tuple[Look, float, float, str]] = {}
    for n in looks:
        open_names = [name for name in values if name not in decided]
        if not open_names:
            break
        stats = {name: look(base[:n], values[name][:n], design.sequential) for name in open_names}
        holm = "Holm-adjusted" if size > 1 else ""
        at = f"look {n - design.n_min + 1} of {design.n_max - design.n_min + 1}" if design.sequential else ""
        basis = f"{holm}, at {at}" if holm and at else holm or (f"at {at}" if at else "")
        differing = sum(v.word in (BETTER, WORSE) for v in decided.values())
        rejected, levels = _holm({k: s.p() for k, s in stats.items()}, family_alphas(design.alpha, size - differing),
                                 functools.partial(design.level, n))
        eq_rejected: set[str] = set()
        eq_levels = {k: 2 * levels[k] for k in open_names}
        if margin is not None:
            same = sum(v.word == EQUIVALENT for v in decided.values())
            # TOST at familywise alpha: one-sided p against half the two-sided level for 2 alpha.
            def one_sided(a: float, n: int = n) -> float:
                return design.level(n, min(2 * a, 0.999)) / 2

            eq_rejected, eq_levels = _holm({k: s.p_equivalent(margin) for k, s in stats.items()},
                                           family_alphas(design.alpha, size - same), one_sided)
            eq_levels = {k: 2 * v for k, v in eq_levels.items()}
        for name in open_names:
            s = stats[name]
            last[name] = (s, levels[name], eq_levels[name], basis)
            if name in rejected:
                low, high = s.interval(levels[name])
                word = BETTER if (s.diff > 0) == higher_is_better else WORSE
                side = "above" if s.diff > 0 else "below"
                decided[name] = Verdict(word, f"{p_text(s.p())}, {n_text(s)}: the interval is {side} zero", n,
                                        levels[name], low, high, s.p(), diff=s.diff, basis=basis)
            elif name in eq_rejected:
                low, high = s.interval(eq_levels[name])
                decided[name] = Verdict(EQUIVALENT, f"{n_text(s)}: the interval is inside {within}", n,
                                        eq_levels[name], low, high, s.p(), diff=s.diff, basis=basis)
    out = {}
    for name in values:
        if name in decided:
            out[name] = decided[name]
        elif name in last:
            out[name] = undecided(*last[name], margin, design, looks[-1], within)
        elif not looks:
            out[name] = Verdict(UNDECIDED, f"too few seeds: {rounds} round{'s' if rounds != 1 else ''} so far, the "
                                f"first look is after {design.n_min}", rounds)
    return out


def undecided(
    s: Look, level: float, eq_level: float, basis: str, margin: float | None, design: Design, n: int, within: str
) -> Verdict:
    """Why a comparison is undecided: too few seeds, or an interval that holds zero and is not inside the effect
    that matters. The interval is the difference test's (at `level`), which holds zero since p > level."""
    if s.n_a == 0 or s.n_b == 0:
        return Verdict(UNDECIDED, "too few seeds: no completed run to compare", n)
    if not s.testable:
        return Verdict(UNDECIDED, f"too few seeds: {n_text(s)}, one seed cannot tell a difference from seed luck",
                       n, p=math.nan)
    if min(s.n_a, s.n_b) == 2:  # df 1: a 95% interval is t(0.975, 1) = 12.7 standard errors either way
        return Verdict(UNDECIDED, f"too few seeds: {p_text(s.p())}, {n_text(s)}, and two seeds cannot bound a "
                       "difference (its 95% interval is 12.7 standard errors wide)", n, level, p=s.p(),
                       diff=s.diff, basis=basis)
    low, high = s.interval(level)
    head = f"{p_text(s.p())}, {n_text(s)}: the interval holds zero"
    if margin is None:
        return Verdict(UNDECIDED, f"{head} and no min_effect says how small a difference does not matter", n, level,
                       low, high, s.p(), diff=s.diff, basis=basis)
    needed = power.seeds_needed(s.sd_a, s.sd_b, margin, design.alpha, design.power)
    more = None if needed is None else max(needed - min(s.n_a, s.n_b), 0)
    if -margin < low and high < margin:  # inside the margin, yet not at the equivalence test's (Holm) level
        eq_low, eq_high = s.interval(eq_level)
        text = (f"{head}; it is inside {within}, but the {confidence_text(eq_level)} interval of the equivalence "
                f"test, [{eq_low:+.4g}, {eq_high:+.4g}], is not")
    else:
        text = f"{head} and is not inside {within}, the effect that matters"
    if more:
        text += f"; about {more} more seeds per variant would decide it"
    return Verdict(UNDECIDED, text, n, level, low, high, s.p(), more, diff=s.diff, basis=basis)
