"""Planning an experiment before spending the night on it: from a pilot's seed-to-seed spread and per-step cost,
how many seeds each comparison needs to tell `min_effect` apart, what they cost, and the smallest effect the
scenario's seeds can detect.

Seeds come from the power of Welch's test (power.py) at the family's first Holm level, alpha / (number of
variants against the baseline): that is the level the most significant comparison must pass, so every
comparison planned at it has at least the stated power. A full run's cost is its steps, evaluations and
checkpoints, each priced from the pilot (run_cost.py); a command's run is priced whole, as its pilot runs took.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bnbench import units
from bnbench.analysis import power
from bnbench.analysis.run_cost import schedule, unit_cost
from bnbench.analysis.summary import Summary, figure_values


@dataclass(frozen=True)
class Question:
    """What the scenario asks and how it will run (from the scenario, not the pilot)."""

    baseline: str
    variants: tuple[str, ...]  # the others, compared with the baseline
    steps: dict[str, int]  # per variant: max_steps of a full run
    eval_every: dict[str, int]  # per variant: steps between evaluations
    checkpoint_every: dict[str, int | None]  # per variant: steps between checkpoints (None: at every evaluation)
    whole_runs: frozenset[str]  # variants priced whole, as their pilot runs took (a command runs to its own end)
    alpha: float
    power: float
    min_effect: float | None  # in the metric's units
    seeds_now: int  # seeds per variant the scenario would run: its list, or max for adaptive seeds
    workers: int  # runs at once
    gpus_per_run: int
    on_gpu: bool
    wh_per_cup: float
    co2_g_per_kwh: float
    pue: float


@dataclass(frozen=True)
class Cost:
    """Projected cost of `runs` full runs. Energy NaN when the pilot did not measure it."""

    runs: int
    energy_j: float
    run_s: float  # run time of all runs added up
    wall_s: float  # with the scenario's workers
    gpu_hours: float | None  # None on the CPU
    kwh: float  # at the device, like the tea
    tea_cups: float
    co2_g: float  # at the wall: PUE included


@dataclass(frozen=True)
class PlanRow:
    """One comparison: the pilot's spreads, the seeds per variant it needs, and what they cost."""

    variant: str
    sd_baseline: float
    sd_variant: float
    seeds: int | None  # None without min_effect or a usable spread
    cost: Cost | None
    detectable: float  # the smallest difference the scenario's current seeds find with the stated power


@dataclass(frozen=True)
class Plan:
    question: Question
    level: float  # alpha / number of comparisons
    per_run_energy_j: dict[str, float]  # per variant, scaled to a full run
    per_run_s: dict[str, float]
    rows: list[PlanRow]
    total: Cost | None  # the whole question: the largest seeds of any comparison, for every variant
    pilot_runs: int


def run_costs(q: Question, figures: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame,
              variant: str) -> tuple[float, float]:
    """A full run of `variant`: (joules, seconds), NaN joules when the pilot did not measure them."""
    if variant in q.whole_runs:
        return (float(figure_values(figures, variant, "energy_j").mean()),
                float(figure_values(figures, variant, "measured_s").mean()))
    unit = unit_cost(runs, curves, variant, q.eval_every[variant], q.checkpoint_every[variant])
    full = schedule(q.steps[variant], q.eval_every[variant], q.checkpoint_every[variant])
    return unit.run_j(full), unit.run_s(full)


def cost(q: Question, seeds: int, energy_j: dict[str, float], run_s: dict[str, float]) -> Cost:
    """`seeds` runs of the baseline and of every variant."""
    names = [q.baseline, *q.variants]
    energy = sum(seeds * energy_j[v] for v in names)
    seconds = sum(seeds * run_s[v] for v in names)
    return Cost(seeds * len(names), energy, seconds, seconds / max(q.workers, 1),
                seconds * q.gpus_per_run / 3600 if q.on_gpu else None, units.j_to_kwh(energy),
                units.tea_cups(energy, q.wh_per_cup), units.co2_g(energy, q.co2_g_per_kwh, q.pue))


def make_plan(pilot: Summary, q: Question, runs: pd.DataFrame, curves: pd.DataFrame) -> Plan:
    """The plan for `q` from the pilot's completed runs (pure: the pilot's Summary, its runs.csv and
    curves.parquet tables, and the question)."""
    figures = pilot.figures
    level = q.alpha / max(len(q.variants), 1)
    names = [q.baseline, *q.variants]
    full = {v: run_costs(q, figures, runs, curves, v) for v in names}
    energy = {v: full[v][0] for v in names}
    seconds = {v: full[v][1] for v in names}
    sd = {v: pilot.variants[v].figures["final"].sd for v in names}
    rows = []
    for v in q.variants:
        needed = (power.seeds_needed(sd[q.baseline], sd[v], q.min_effect, level, q.power)
                  if q.min_effect is not None else None)
        rows.append(PlanRow(v, sd[q.baseline], sd[v], needed,
                            None if needed is None else cost(q, needed, energy, seconds),
                            power.detectable_effect(q.seeds_now, sd[q.baseline], sd[v], level, q.power)))
    wanted = [r.seeds for r in rows if r.seeds is not None]
    total = cost(q, max(wanted), energy, seconds) if wanted and len(wanted) == len(rows) else None
    return Plan(q, level, energy, seconds, rows, total, int((figures["status"] == "completed").sum()))
