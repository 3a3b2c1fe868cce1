"""The summary of a results folder: per-run figures, per-variant statistics, comparisons with the baseline.

Statistics use completed runs only: a diverged, failed or interrupted run has no final model to compare, and is
counted separately (a diverged run is itself a result, and the verdict says how many there were).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from bnbench.analysis import stats, verdict
from bnbench.analysis.decide import Design, Verdict, decide
from bnbench.analysis.folder import energy_source, folder_energy_source, in_report_order, is_estimate
from bnbench.analysis.metric_info import MetricInfo, bounds
from bnbench.analysis.run_figures import run_figures

if TYPE_CHECKING:
    from bnbench.analysis.folder import ResultsFolder

# Figures described per variant: column of run_figures -> (label, higher is better or None for neutral).
QUALITY_FIGURES = ("final", "best", "gap")
FIGURES: dict[str, tuple[str, bool | None]] = {
    "final": ("final", None),
    "best": ("best", None),
    "gap": ("final-vs-best gap", False),
    "loss_spikes": ("loss spikes", False),
    "wall_s": ("wall time (s)", False),
    "measured_s": ("measured time (s)", False),
    "energy_j": ("energy (J)", False),
    "steps_to_target": ("steps to target", False),
    "time_to_target_s": ("time to target (s)", False),
    "energy_to_target_j": ("energy to target (J)", False),
    "gpu_busy_pct": ("GPU busy %", None),
}
# Figures compared with the baseline (difference, ratio, Welch test).
COMPARED = ("final", "best", "measured_s", "energy_j", "steps_to_target", "time_to_target_s", "energy_to_target_j")
ENERGY_FIGURES = ("energy_j", "energy_to_target_j")
TARGET_FIGURES = ("steps_to_target", "time_to_target_s", "energy_to_target_j")


@dataclass(frozen=True)
class VariantSummary:
    variant: str
    runs: int
    statuses: dict[str, int]
    completed: int
    reached: int  # completed runs that reached the target
    figures: dict[str, stats.Description]  # over completed runs; to-target figures over those that reached it
    olympic_time_to_target_s: float  # MLPerf: drop the fastest and slowest, average the rest
    energy_source: str

    @property
    def diverged(self) -> int:
        return self.statuses.get("diverged", 0)


@dataclass(frozen=True)
class Comparison:
    """`variant` against `baseline`: per figure, the Welch difference, the ratio of means and the verdict."""

    variant: str
    baseline: str
    differences: dict[str, stats.Difference]
    ratios: dict[str, stats.Ratio]
    verdicts: dict[str, Verdict]  # per figure: better | worse | equivalent | undecided | not measured | ...
    sentence: str
    pairs: pd.DataFrame  # seed, baseline, variant, difference, won (final metric, seeds completed on both sides)

    @property
    def words(self) -> dict[str, str]:
        return {figure: v.word for figure, v in self.verdicts.items()}

    @property
    def decision(self) -> Verdict:
        """The verdict on the final metric: the one adaptive seeds wait for."""
        return self.verdicts["final"]

    @property
    def verdict(self) -> str:
        return self.decision.word

    @property
    def seeds_won(self) -> tuple[int, int]:
        return int(self.pairs["won"].sum()), len(self.pairs)


@dataclass(frozen=True)
class Rounds:
    """Where a session with adaptive seeds stands: rounds of one run per variant, `n_min` to `n_max`.

    `stop` says why no further round runs ('decided', 'max', 'budget_kwh', 'budget_s'), None while one should.
    A round's projected energy and run time are the mean of the completed runs times the number of variants (NaN
    when not measured); `spent_*` add up every run so far.
    """

    n_min: int
    n_max: int
    run: int
    decided: bool
    stop: str | None
    round_energy_j: float
    round_s: float
    spent_energy_j: float
    spent_s: float
    budget_kwh: float | None
    budget_s: float | None

    @property
    def not_run(self) -> int:
        return max(self.n_max - self.run, 0)

    @property
    def saved_energy_j(self) -> float:
        return self.not_run * self.round_energy_j


@dataclass(frozen=True)
class Summary:
    name: str
    metric: MetricInfo
    target: float | None
    baseline: str
    figures: pd.DataFrame  # one row per run (run_figures.FIGURE_COLUMNS)
    variants: dict[str, VariantSummary]
    comparisons: dict[str, Comparison]  # per non-baseline variant; empty when the baseline has no runs
    energy_source: str  # for the whole folder
    design: Design = Design()
    margin: float | None = None  # [stats] min_effect, in the metric's units
    rounds: Rounds | None = None  # adaptive seeds only

    @property
    def decided(self) -> bool:
        """Every comparison decided (better, worse or equivalent) on the final metric."""
        return bool(self.comparisons) and all(c.decision.decided for c in self.comparisons.values())

    @property
    def verdicts(self) -> list[str]:
        return [c.sentence for c in self.comparisons.values()]


def figure_values(figures: pd.DataFrame, variant: str, column: str) -> pd.Series:
    """`column` of the variant's completed runs, as numbers (NaN where there is none). The column is taken before
    the rows: selecting rows of the whole frame copied every column, a tenth of a second of a night's summary. The
    rows are found on plain numpy arrays: a night's summary asks this 112 times, and comparing pandas' Arrow-backed
    strings took three times as long."""
    done = (figures["variant"].to_numpy(dtype=object) == variant) & (
        figures["status"].to_numpy(dtype=object) == "completed")
    return pd.to_numeric(figures[column][done], errors="coerce")


def summarize_variant(figures: pd.DataFrame, variant: str, metric: MetricInfo | None = None) -> VariantSummary:
    """`metric`: the headline metric, whose final and best values get intervals within its bounds (an
    accuracy's 0-100%)."""
    rows = figures[figures["variant"] == variant]
    done = rows[rows["status"] == "completed"]
    described = {}
    for c in FIGURES:
        values = figure_values(figures, variant, c).to_numpy(dtype=float)
        limits = bounds(metric, values) if metric is not None and c in ("final", "best") else None
        described[c] = stats.describe(values, bounds=limits)
    return VariantSummary(
        variant=variant,
        runs=len(rows),
        statuses={str(k): int(v) for k, v in rows["status"].value_counts().items()},
        completed=len(done),
        reached=int(done["reached"].sum()),
        figures=described,
        olympic_time_to_target_s=stats.olympic_mean(done["time_to_target_s"].to_numpy(dtype=float)),
        energy_source=energy_source(done["energy_source"]),
    )


def pairs(figures: pd.DataFrame, variant: str, baseline: str, metric: MetricInfo) -> pd.DataFrame:
    """Per seed completed by both: the final metric of each, the difference, and whether the variant won."""
    def finals(name: str) -> pd.Series:
        done = figures[(figures["variant"] == name) & (figures["status"] == "completed")]
        return done.drop_duplicates("seed").set_index("seed")["final"]

    table = pd.concat({"baseline": finals(baseline), "variant": finals(variant)}, axis=1).dropna()
    table["difference"] = table["variant"] - table["baseline"]
    better = table["variant"] > table["baseline"] if metric.higher_is_better else table["variant"] < table["baseline"]
    table["won"] = better
    return table.rename_axis("seed").reset_index()


def by_round(figures: pd.DataFrame, variant: str, column: str, seeds: list[int]) -> list[float]:
    """The figure of `variant`'s completed run of each seed, in round order (NaN where there is none)."""
    values = figure_values(figures, variant, column)
    seed_of = figures.loc[values.index, "seed"]
    found = dict(zip(seed_of.astype(int), values.astype(float), strict=True))
    return [found.get(seed, math.nan) for seed in seeds]


def margins(figures: pd.DataFrame, baseline: str, settings: dict[str, Any]) -> dict[str, float | None]:
    """The difference that matters per compared figure: min_effect for the metric; energy_ratio and wall_ratio
    times the baseline's mean for energy and wall time; none for the rest."""
    def scaled(column: str, key: str) -> float | None:
        ratio = settings.get(key)
        mean = float(figure_values(figures, baseline, column).mean())
        return float(ratio) * mean if ratio is not None and math.isfinite(mean) and mean > 0 else None

    effect = settings.get("min_effect")
    out: dict[str, float | None] = dict.fromkeys(COMPARED)
    out["final"] = out["best"] = None if effect is None else float(effect)
    out["energy_j"], out["measured_s"] = scaled("energy_j", "energy_ratio"), scaled("measured_s", "wall_ratio")
    return out


UNITS = {"energy_j": "J", "measured_s": "s", "time_to_target_s": "s", "energy_to_target_j": "J"}


def family_verdicts(
    figures: pd.DataFrame, names: list[str], baseline: str, metric: MetricInfo, design: Design,
    settings: dict[str, Any], seeds: list[int], rounds: int,
) -> dict[str, dict[str, Verdict]]:
    """Per figure, the verdict of every variant against the baseline, decided as one family (decide.py): the
    final metric at every look of the design, the other figures at the last look."""
    margin = margins(figures, baseline, settings)
    out: dict[str, dict[str, Verdict]] = {}
    for column in COMPARED:
        higher = metric.higher_is_better if column in QUALITY_FIGURES else bool(FIGURES[column][1])
        unit = metric.unit if column in QUALITY_FIGURES else UNITS.get(column, "")
        out[column] = decide(
            by_round(figures, baseline, column, seeds[:rounds]),
            {v: by_round(figures, v, column, seeds[:rounds]) for v in names}, design, margin[column], higher,
            rounds=rounds, looks=None if column == "final" else [rounds], unit=unit,
        )
    return out


def compare(
    figures: pd.DataFrame, variant: str, baseline: str, metric: MetricInfo, has_target: bool = True,
    decided: dict[str, Verdict] | None = None,
) -> Comparison:
    """`decided`: this variant's verdict per figure from its family (family_verdicts); without it the comparison
    is a family of one, looked at once at alpha = 0.05 (two results folders side by side)."""
    if decided is None:
        seeds = sorted(int(s) for s in figures["seed"].dropna().unique())
        family = family_verdicts(figures, [variant], baseline, metric, Design(), {}, seeds, len(seeds))
        decided = {column: family[column][variant] for column in COMPARED}
    differences, ratios, verdicts = {}, {}, {}
    for column in COMPARED:
        a = figure_values(figures, baseline, column).to_numpy(dtype=float)
        b = figure_values(figures, variant, column).to_numpy(dtype=float)
        differences[column] = stats.welch(a, b)
        ratios[column] = stats.ratio(a, b)
        unreached = [v for v in (variant, baseline) if not figure_values(figures, v, "reached").any()]
        if column in TARGET_FIGURES and not has_target:
            verdicts[column] = Verdict(verdict.NO_TARGET, "no [train] target")
        elif column in TARGET_FIGURES and unreached:
            verdicts[column] = Verdict(f"{verdict.NOT_REACHED} by {' and '.join(unreached)}", "")
        elif column in ENERGY_FIGURES and not (len(stats.finite(a)) and len(stats.finite(b))):
            verdicts[column] = Verdict(verdict.NOT_MEASURED, "")
        else:
            verdicts[column] = decided[column]
    done = figures[figures["variant"].isin([variant, baseline]) & (figures["status"] == "completed")]
    source = energy_source(done["energy_source"])
    rows = figures[figures["variant"] == variant]
    sentence = verdict.sentence(
        variant, baseline, differences["final"], metric, ratios["energy_j"], ratios["measured_s"], verdicts["final"],
        energy_note="estimate" if is_estimate(source) else "",
        diverged=int((rows["status"] == "diverged").sum()), runs=len(rows),
        failed=int((rows["status"] == "failed").sum()),
    )
    paired = pairs(figures, variant, baseline, metric)
    return Comparison(variant, baseline, differences, ratios, verdicts, sentence, paired)


def design_of(settings: dict[str, Any], seed_range: dict[str, Any] | None, seeds: int) -> Design:
    """The decision design of a folder: `[stats]` and, for adaptive seeds, looks from min to max rounds."""
    n_min, n_max = (int(seed_range["min"]), int(seed_range["max"])) if seed_range else (seeds, seeds)
    return Design(float(settings.get("alpha", 0.05)), n_min, n_max, str(settings.get("spending", "obrien-fleming")),
                  float(settings.get("power", 0.8)))


def rounds_status(
    figures: pd.DataFrame, seed_range: dict[str, Any], rounds: int, decided: bool, variants: int
) -> Rounds:
    """Whether an adaptive session goes on: decided, at max, or the next round would break a budget."""
    done = figures[figures["status"] == "completed"]
    round_energy = float(pd.to_numeric(done["energy_j"], errors="coerce").mean()) * variants
    round_s = float(pd.to_numeric(done["wall_s"], errors="coerce").mean()) * variants
    energy = pd.to_numeric(figures["energy_j"], errors="coerce")
    spent_energy = float(energy.sum()) if energy.notna().any() else math.nan
    spent_s = float(pd.to_numeric(figures["wall_s"], errors="coerce").sum())
    n_min, n_max = int(seed_range["min"]), int(seed_range["max"])
    budget_kwh, budget_s = seed_range.get("budget_kwh"), seed_range.get("budget_s")
    stop = None
    if rounds >= n_min and decided:
        stop = "decided"
    elif rounds >= n_max:
        stop = "max"
    elif budget_kwh is not None and spent_energy + round_energy > float(budget_kwh) * 3.6e6:
        stop = "budget_kwh"  # NaN (energy not measured) compares False: the energy budget cannot stop it
    elif budget_s is not None and spent_s + round_s > float(budget_s):
        stop = "budget_s"
    return Rounds(n_min, n_max, rounds, decided, stop, round_energy, round_s, spent_energy, spent_s,
                  None if budget_kwh is None else float(budget_kwh), None if budget_s is None else float(budget_s))


def summarize(results: ResultsFolder, rounds: int | None = None) -> Summary:
    """Every statistic a report shows, from the loaded folder alone. `rounds`: only the first rounds of seeds
    (what an adaptive session knew before starting round `rounds`); default all."""
    names = results.variants
    figures = run_figures(results.runs, results.curves, results.metric, results.target)
    seeds = results.seeds
    if rounds is not None:
        figures = figures[figures["seed"].isin(seeds[:rounds])]
    position = {seed: i for i, seed in enumerate(seeds)}
    ran = int(max((position[int(s)] for s in figures["seed"].dropna()), default=-1)) + 1
    rounds = ran if rounds is None else min(rounds, len(seeds))
    figures = in_report_order(figures, names)
    variants = {v: summarize_variant(figures, v, results.metric) for v in names}
    baseline = results.baseline
    settings, seed_range = results.stats, results.seed_range
    design = design_of(settings, seed_range, rounds)
    comparisons = {}
    if baseline in variants:
        others = [v for v in names if v != baseline]
        family = family_verdicts(figures, others, baseline, results.metric, design, settings, seeds, rounds)
        comparisons = {v: compare(figures, v, baseline, results.metric, results.target is not None,
                                  {column: family[column][v] for column in COMPARED}) for v in others}
    effect = settings.get("min_effect")
    summary = Summary(results.name, results.metric, results.target, baseline, figures, variants, comparisons,
                      folder_energy_source(figures), design, None if effect is None else float(effect))
    if seed_range is None:
        return summary
    status = rounds_status(figures, seed_range, rounds, summary.decided, len(names))
    return dataclasses.replace(summary, rounds=status)
