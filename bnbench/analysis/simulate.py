"""How often the decisions say better or worse, simulated: many experiments at once, through the same levels
(`Design.level`) and degrees of freedom (`decide.decision_df`) as `decide.decide`, with numpy over experiments.

It answers the two questions a decision rule owes its user: under no difference, how often does it name a winner
anyway (its error rate, which must stay at alpha whatever the two spreads), and under a true difference, how
often does it find it (its power). One variant against one baseline, no margin (no equivalence stops an
experiment early, the case with the most looks), or a Holm family of same-spread variants at one look.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import stdtr

from bnbench.analysis.decide import Design, decision_df

DfRule = Callable[[int, np.ndarray, np.ndarray, bool], np.ndarray]


def hsu_df(n: int, var_a: np.ndarray, var_b: np.ndarray, sequential: bool) -> np.ndarray:
    """decide.decision_df for every experiment (it depends on n and the design only)."""
    return np.full(var_a.shape, decision_df(n, n, sequential))


def welch_df(n: int, var_a: np.ndarray, var_b: np.ndarray, sequential: bool) -> np.ndarray:
    """The Welch-Satterthwaite df, for comparison: (va + vb)^2 / ((va^2 + vb^2) / (n - 1)), va = s_a^2 / n."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (var_a + var_b) ** 2 / ((var_a**2 + var_b**2) / (n - 1))


def _p(control: np.ndarray, variant: np.ndarray, n: int, sequential: bool, df_rule: DfRule) -> np.ndarray:
    """Two-sided p of each experiment's first n seeds (rows: experiments)."""
    a, b = control[:, :n], variant[:, :n]
    var_a, var_b = a.var(axis=1, ddof=1) / n, b.var(axis=1, ddof=1) / n
    t = (b.mean(axis=1) - a.mean(axis=1)) / np.sqrt(var_a + var_b)
    return 2 * stdtr(df_rule(n, var_a, var_b, sequential), -np.abs(t))


def draw(design: Design, sd_ratio: float, difference: float = 0.0, experiments: int = 20_000,
         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(control, variant) seeds of each experiment (rows), n_max each: control ~ N(0, 1), the variant's
    ~ N(`difference`, `sd_ratio`)."""
    rng = np.random.default_rng(seed)
    control = rng.normal(0.0, 1.0, (experiments, design.n_max))
    return control, rng.normal(difference, sd_ratio, (experiments, design.n_max))


def winners(control: np.ndarray, variant: np.ndarray, design: Design, df_rule: DfRule = hsu_df) -> np.ndarray:
    """Per experiment, whether its verdict is better or worse: one look after each round from n_min to n_max
    (or one at n_max), the first crossing deciding, as decide.decide without a margin."""
    looks = range(design.n_min, design.n_max + 1) if design.sequential else [design.n_max]
    decided = np.zeros(len(control), dtype=bool)
    for n in looks:
        decided |= _p(control, variant, n, design.sequential, df_rule) <= design.level(n, design.alpha)
    return decided


def winner_rate(design: Design, sd_ratio: float, difference: float = 0.0, experiments: int = 20_000,
                seed: int = 0, df_rule: DfRule = hsu_df) -> float:
    """The share of experiments (draw) whose verdict is better or worse. Under `difference` = 0 that is the
    false-verdict rate; otherwise the power."""
    return float(winners(*draw(design, sd_ratio, difference, experiments, seed), design, df_rule).mean())


def family_false_rate(n: int, variants: int, sd_ratio: float, alpha: float = 0.05, experiments: int = 20_000,
                      seed: int = 0, df_rule: DfRule = hsu_df) -> float:
    """Holm at one look, under no difference: the share of experiments in which any of `variants` variants
    (sd `sd_ratio`, against one control of sd 1, `n` seeds each) is called better or worse. Holm rejects
    anything only if the smallest p is at most alpha / variants, so that is the rate."""
    rng = np.random.default_rng(seed)
    control = rng.normal(0.0, 1.0, (experiments, n))
    smallest = np.full(experiments, np.inf)
    for _ in range(variants):
        variant = rng.normal(0.0, sd_ratio, (experiments, n))
        smallest = np.minimum(smallest, _p(control, variant, n, False, df_rule))
    return float((smallest <= alpha / variants).mean())
