"""The summary of a results folder: per-run figures, per-variant statistics, comparisons with the baseline.

Statistics use completed runs only: a diverged, failed or interrupted run has no final model to compare, and is
counted separately (a diverged run is itself a result, and the verdict says how many there were).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from bnbench.analysis import stats, verdict
from bnbench.analysis.metric import MetricInfo
from bnbench.analysis.metrics import run_figures

if TYPE_CHECKING:
    from bnbench.analysis.results import Results

# Figures described per variant: column of run_figures -> (label, higher is better or None for neutral).
QUALITY_FIGURES = ("final", "best", "gap")
FIGURES: dict[str, tuple[str, bool | None]] = {
    "final": ("final", None),
    "best": ("best", None),
    "gap": ("final-vs-best gap", False),
    "loss_spikes": ("loss spikes", False),
    "wall_s": ("wall time (s)", False),
    "energy_j": ("energy (J)", False),
    "steps_to_target": ("steps to target", False),
    "time_to_target_s": ("time to target (s)", False),
    "energy_to_target_j": ("energy to target (J)", False),
}
# Figures compared with the baseline (difference, ratio, Welch test).
COMPARED = ("final", "best", "wall_s", "energy_j", "steps_to_target", "time_to_target_s", "energy_to_target_j")
ENERGY_FIGURES = ("energy_j", "energy_to_target_j")
TARGET_FIGURES = ("steps_to_target", "time_to_target_s", "energy_to_target_j")


def energy_source(sources: pd.Series) -> str:
    """One label for the sources of a set of runs: 'nvml-counter', 'estimate', 'none', or 'a + b' when mixed."""
    found = sorted(set(sources.dropna().astype(str)) - {"", "nan"}) or ["none"]
    measured = [s for s in found if s != "none"]
    return " + ".join(measured) if measured else "none"


def is_estimate(source: str) -> bool:
    return "estimate" in source


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
    """`variant` against `baseline`: per figure, the Welch difference and the ratio of means."""

    variant: str
    baseline: str
    differences: dict[str, stats.Difference]
    ratios: dict[str, stats.Ratio]
    words: dict[str, str]  # per figure: better | worse | no detectable difference | not measured
    sentence: str
    pairs: pd.DataFrame  # seed, baseline, variant, difference, won (final metric, seeds completed on both sides)

    @property
    def verdict(self) -> str:
        return self.words["final"]

    @property
    def seeds_won(self) -> tuple[int, int]:
        return int(self.pairs["won"].sum()), len(self.pairs)


@dataclass(frozen=True)
class Summary:
    name: str
    metric: MetricInfo
    target: float | None
    baseline: str
    figures: pd.DataFrame  # one row per run (metrics.FIGURE_COLUMNS)
    variants: dict[str, VariantSummary]
    comparisons: dict[str, Comparison]  # per non-baseline variant; empty when the baseline has no runs
    energy_source: str  # for the whole folder

    @property
    def verdicts(self) -> list[str]:
        return [c.sentence for c in self.comparisons.values()]


def figure_values(figures: pd.DataFrame, variant: str, column: str) -> pd.Series:
    done = figures[(figures["variant"] == variant) & (figures["status"] == "completed")]
    return pd.to_numeric(done[column], errors="coerce")


def summarize_variant(figures: pd.DataFrame, variant: str) -> VariantSummary:
    rows = figures[figures["variant"] == variant]
    done = rows[rows["status"] == "completed"]
    described = {c: stats.describe(figure_values(figures, variant, c).to_numpy()) for c in FIGURES}
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


def compare(
    figures: pd.DataFrame, variant: str, baseline: str, metric: MetricInfo, has_target: bool = True
) -> Comparison:
    differences, ratios, words = {}, {}, {}
    for column in COMPARED:
        a = figure_values(figures, baseline, column).to_numpy(dtype=float)
        b = figure_values(figures, variant, column).to_numpy(dtype=float)
        differences[column] = stats.welch(a, b)
        ratios[column] = stats.ratio(a, b)
        higher = metric.higher_is_better if column in QUALITY_FIGURES else FIGURES[column][1]
        unreached = [v for v in (variant, baseline) if not figure_values(figures, v, "reached").any()]
        if column in TARGET_FIGURES and not has_target:
            words[column] = verdict.NO_TARGET
        elif column in TARGET_FIGURES and unreached:
            words[column] = f"{verdict.NOT_REACHED} by {' and '.join(unreached)}"
        elif column in ENERGY_FIGURES and not (len(stats.finite(a)) and len(stats.finite(b))):
            words[column] = verdict.NOT_MEASURED
        else:
            words[column] = verdict.word(differences[column], bool(higher))
    done = figures[figures["variant"].isin([variant, baseline]) & (figures["status"] == "completed")]
    source = energy_source(done["energy_source"])
    rows = figures[figures["variant"] == variant]
    sentence = verdict.sentence(
        variant, baseline, differences["final"], metric, ratios["energy_j"], ratios["wall_s"],
        energy_note="estimate" if is_estimate(source) else "",
        diverged=int((rows["status"] == "diverged").sum()), runs=len(rows),
    )
    paired = pairs(figures, variant, baseline, metric)
    return Comparison(variant, baseline, differences, ratios, words, sentence, paired)


def summarize(results: Results) -> Summary:
    """Every statistic a report shows, from the loaded folder alone."""
    names = results.variants
    figures = run_figures(results.runs, results.curves, results.metric, results.target)
    rank = figures["variant"].map({v: i for i, v in enumerate(names)})
    figures = figures.assign(_rank=rank).sort_values(["_rank", "seed"], kind="stable").drop(columns="_rank")
    figures = figures.reset_index(drop=True)
    variants = {v: summarize_variant(figures, v) for v in names}
    baseline = results.baseline
    comparisons = (
        {v: compare(figures, v, baseline, results.metric, results.target is not None) for v in names if v != baseline}
        if baseline in variants else {}
    )
    done = figures[figures["status"] == "completed"]
    return Summary(results.name, results.metric, results.target, baseline, figures, variants, comparisons,
                   energy_source(done["energy_source"] if len(done) else figures["energy_source"]))
