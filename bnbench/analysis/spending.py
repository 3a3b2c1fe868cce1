"""Group-sequential boundaries: how strict each look at the data must be so that looking after every round of
seeds keeps the stated error rate.

Lan & DeMets (1983) spend the two-sided alpha over the information fractions t = n / n_max of the looks:

- O'Brien-Fleming type, alpha/2 per side: alpha(t) = 4 - 4 Phi(z_{1-alpha/4} / sqrt(t)) (almost nothing early,
  nearly all of alpha at the last look, whose boundary is close to a fixed design's);
- Pocock type: alpha(t) = alpha * ln(1 + (e - 1) t) (the same boundary at every look, each well below alpha).

The boundary c_k of look k is solved so that the probability, under no difference, of first crossing at look k
equals alpha(t_k) - alpha(t_{k-1}), by the recursive numerical integration of Armitage, McPherson & Rowe
(1969), as in Jennison & Turnbull, *Group Sequential Methods* (2000), chapter 19. No Python library that is
kept up to date computes these boundaries, so this module does, with scipy; its figures are checked against
the published ones in tests/analysis/test_spending.py.

The boundaries are for z statistics; with seeds, the variance is estimated, so a look uses the nominal
two-sided level 2 (1 - Phi(c_k)) with Welch's t (Jennison & Turnbull, section 3.8).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

SPENDING = ("obrien-fleming", "pocock")
GRID = 801  # points per look; boundaries agree with the published ones to 3 decimals


def spent(t: float, alpha: float, kind: str) -> float:
    """Two-sided alpha spent by information fraction `t` (0 < t <= 1); equal to `alpha` at t = 1."""
    if kind == "obrien-fleming":  # alpha / 2 on each side, as in gsDesign and ldbounds
        return float(4 - 4 * ndtr(ndtri(1 - alpha / 4) / math.sqrt(t)))
    if kind == "pocock":
        return alpha * math.log(1 + (math.e - 1) * t)
    raise ValueError(f"unknown spending function '{kind}'; use {' or '.join(SPENDING)}")


def _trapezoid_weights(x: np.ndarray) -> np.ndarray:
    w = np.full(len(x), x[1] - x[0])
    w[0] = w[-1] = w[0] / 2
    return w


def _excess_crossing(c: float, x: np.ndarray, mass: np.ndarray, sk: float, sp: float, sd: float,
                     target: float) -> float:
    """P(first |Z| >= c at this look) - target, from the previous look's sub-density `mass` on grid `x`."""
    inside = ndtr((c * sk - sp * x) / sd) - ndtr((-c * sk - sp * x) / sd)
    return float(np.sum(mass * (1 - inside))) - target


@functools.lru_cache(maxsize=256)
def boundaries(alpha: float, fractions: tuple[float, ...], kind: str) -> tuple[float, ...]:
    """Two-sided z boundaries c_1..c_K for looks at increasing information `fractions` (the last is 1)."""
    from scipy.optimize import brentq

    bounds: list[float] = []
    previous_t, previous_spent = 0.0, 0.0
    # the sub-density of Z at the previous look, on the continuation region (none before the first look)
    x: Any = None
    weights: Any = None
    density: Any = None
    for t in fractions:
        target = spent(t, alpha, kind) - previous_spent
        if x is None:
            c = float(ndtri(1 - target / 2))
        else:
            sk, sp, sd = math.sqrt(t), math.sqrt(previous_t), math.sqrt(t - previous_t)
            args = (x, weights * density, sk, sp, sd, target)
            c = brentq(_excess_crossing, 0.0, 40.0, args=args, xtol=1e-10) if target > 0 else math.inf
        bounds.append(c)
        # The density of Z_k where the session went on: Z_k = (sqrt(t_prev) Z_prev + sqrt(t - t_prev) W) / sqrt(t).
        grid = np.linspace(-min(c, 12.0), min(c, 12.0), GRID)
        if x is None:
            density = np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi)
        else:
            kernel = (grid[:, None] * sk - sp * x[None, :]) / sd
            density = (np.exp(-kernel**2 / 2) / math.sqrt(2 * math.pi) * (sk / sd)) @ (weights * density)
        x, weights = grid, _trapezoid_weights(grid)
        previous_t, previous_spent = t, spent(t, alpha, kind)
    return tuple(bounds)


@functools.lru_cache(maxsize=256)
def nominal_levels(alpha: float, fractions: tuple[float, ...], kind: str) -> tuple[float, ...]:
    """The two-sided nominal level 2 (1 - Phi(c_k)) of each look: a look decides when its p is at most this."""
    return tuple(float(2 * ndtr(-c)) for c in boundaries(alpha, fractions, kind))
