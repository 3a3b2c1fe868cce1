"""The answer at a glance: per variant the metric against the reference it must beat and the verdict, and what
it cost (wall time, kWh, cups of tea, CO2, money), with the session's totals.

The terminal summary and the top of report.md and report.html show these same cells, so they cannot disagree.
Cells are short strings whose numbers are never cut: the renderers stack or wrap whole words only.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from bnbench.analysis import stats, verdict
from bnbench.analysis.folder import is_estimate
from bnbench.analysis.summary import Summary
from bnbench.rendering import format as fmt

if TYPE_CHECKING:
    from bnbench.analysis.results import Results

ABOVE, BELOW, UNCLEAR = "above", "below", "unclear"


@dataclass(frozen=True)
class Reference:
    """A non-learned score the metric must beat (bicubic PSNR, majority-class accuracy): `name` as in runs.csv's
    `<name>_<metric>` column, `value` its mean over the runs."""

    name: str
    value: float


@dataclass(frozen=True)
class VariantGlance:
    variant: str
    runs: str  # '2 completed', '1 completed, 1 diverged'
    metric: str  # final metric over completed seeds: '30.34 [29.20, 31.48]' (mean [95% CI]), one seed: '30.34'
    vs_reference: str  # '+0.26 above', '-2.14 below', '+0.05 unclear' (by the 95% interval), '' without one
    verdict: str  # 'baseline', or the word against it and its p: 'worse (p=0.003)'
    wall: str  # the variant's runs together
    kwh: str
    cups: str
    co2: str
    cost: str
    source: str  # energy source of its completed runs


@dataclass(frozen=True)
class Glance:
    name: str
    metric_header: str  # 'final PSNR (dB)'
    baseline: str
    reference: Reference | None
    variants: list[VariantGlance]
    total: VariantGlance  # the session: every run of every variant
    source: str  # the folder's energy source
    source_note: str  # how to read it: 'an estimate from CPU time, not a measurement'
    verdicts: list[str]  # the one-line verdict sentences
    reference_lines: list[str]  # per variant: its final metric against the reference, and on which side it is
    run_count: int
    reference_value: str  # '30.08 dB'
    elapsed: str = ""  # the sessions' time from start to end ('2.4 min'), '' where the manifest lacks a time

    @property
    def headline(self) -> str:
        """'quick: 6 runs, 2.4 min elapsed, 3.9 min of run time, 0.000838 kWh = 0.0252 cups of tea (estimate)'.

        Run time adds up every run's wall time, so runs that train side by side make it longer than the
        session's elapsed time; the headline names both."""
        energy = ("energy not measured" if self.total.kwh == fmt.NOT_MEASURED
                  else f"{self.total.kwh} kWh = {self.total.cups} cups of tea")
        note = " (estimate)" if is_estimate(self.source) else f" ({self.source})" if self.source != "none" else ""
        elapsed = f"{self.elapsed} elapsed, " if self.elapsed else ""
        return (f"{self.name}: {fmt.plural(self.run_count, 'run')}, {elapsed}{self.total.wall} of run time, "
                f"{energy}{note}")


def elapsed_s(manifest: dict[str, Any]) -> float | None:
    """Seconds from start to end of the sessions that wrote a folder: the first session, then each resume
    (the gaps between them left out). None when a start or an end is not recorded (a session killed outright)."""
    resumes = [r for r in manifest.get("resumes", []) if isinstance(r, dict)]
    first_end = manifest.get("first_ended_at") if resumes else manifest.get("ended_at")
    spans = [(manifest.get("started_at"), first_end), *((r.get("started_at"), r.get("ended_at")) for r in resumes)]
    total_s = 0.0
    for start, end in spans:
        try:
            total_s += (dt.datetime.fromisoformat(str(end)) - dt.datetime.fromisoformat(str(start))).total_seconds()
        except ValueError:  # None or a damaged stamp: the elapsed time is not known
            return None
    return total_s if total_s >= 0 else None


def references(runs: pd.DataFrame, metric: str) -> list[Reference]:
    """Every `<name>_<metric>` column of runs.csv other than final_ and best_, with its mean."""
    found = []
    for column in runs.columns:
        name = column.removesuffix(f"_{metric}")
        if column.endswith(f"_{metric}") and name not in ("final", "best"):
            values = pd.to_numeric(runs[column], errors="coerce").dropna()
            if len(values):
                found.append(Reference(name, float(values.mean())))
    return found


def against_reference(d: stats.Description, reference: float) -> str:
    """'above' or 'below' when the 95% interval of the mean lies wholly on one side of the reference, else
    'unclear' (one seed has no interval)."""
    if d.n < 2 or math.isnan(d.ci_low):
        return UNCLEAR
    if d.ci_low > reference:
        return ABOVE
    if d.ci_high < reference:
        return BELOW
    return UNCLEAR


def statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items()) or "0 runs"


def metric_cell(d: stats.Description, decimals: int) -> str:
    if d.n == 0:
        return "n/a"
    if d.n == 1 or (math.isnan(d.ci_low) and d.n != 2):
        return fmt.number(d.mean, decimals)
    return f"{fmt.number(d.mean, decimals)} {fmt.interval(d, decimals)}"


def total(runs: pd.DataFrame, column: str) -> float:
    """The sum of a runs.csv column, NaN when no run has a value (unmeasured is never 0)."""
    if column not in runs:
        return math.nan
    values = pd.to_numeric(runs[column], errors="coerce")
    return float(values.sum()) if values.notna().any() else math.nan


def costs(runs: pd.DataFrame, currency: str, source: str) -> dict[str, str]:
    energy_j = total(runs, "energy_j")
    # The time beside the joules is the same phases' (a folder from before runs.csv had it: the wall time).
    seconds = total(runs, "measured_s" if "measured_s" in runs else "wall_s")
    return {"wall": fmt.seconds(seconds), "kwh": fmt.kwh(energy_j),
            "cups": fmt.count(total(runs, "tea_cups")), "co2": fmt.co2(total(runs, "co2_g")),
            "cost": fmt.cost(total(runs, "cost"), currency), "source": source}


def source_note(source: str) -> str:
    if source == "none":
        return "energy not measured (no readable sensor and estimation off)"
    if is_estimate(source):
        return f"energy source {source}: an estimate from CPU time, not a measurement"
    return f"energy source {source}: measured"


def build(results: Results, summary: Summary | None = None) -> Glance:
    """The glance of a results folder, from its files alone."""
    summary = summary or results.summary
    metric = summary.metric
    runs = results.runs
    currency = str(results.scenario.get("energy", {}).get("currency", "USD"))
    refs = references(runs, metric.name)
    reference = refs[0] if refs else None
    rows, lines = [], []
    for name, v in summary.variants.items():
        d = v.figures["final"]
        vs_reference = ""
        if reference is not None and d.n:
            side = against_reference(d, reference.value)
            vs_reference = f"{d.mean - reference.value:+.{metric.decimals}f} {side}"
            lines.append(reference_line(name, d, reference, side, summary))
        c = summary.comparisons.get(name)
        if name == summary.baseline:
            word = "baseline"
        elif c is None:
            word = "n/a"
        else:
            word = verdict.word_text(c.decision)
        mine = runs[runs["variant"] == name]
        rows.append(VariantGlance(name, statuses(v.statuses), metric_cell(d, metric.decimals), vs_reference, word,
                                  **costs(mine, currency, v.energy_source)))
    counts: dict[str, int] = {}
    for status in runs["status"].astype(str):
        counts[status] = counts.get(status, 0) + 1
    everything = VariantGlance("total", statuses(counts), "", "", "", **costs(runs, currency, summary.energy_source))
    header = f"final {metric.axis_label}"
    elapsed = elapsed_s(results.manifest)
    return Glance(summary.name, header, summary.baseline, reference, rows, everything, summary.energy_source,
                  source_note(summary.energy_source), summary.verdicts, lines, len(runs),
                  metric.value(reference.value) if reference else "", "" if elapsed is None else fmt.seconds(elapsed))


def reference_line(variant: str, d: stats.Description, reference: Reference, side: str, summary: Summary) -> str:
    """'control: PSNR 30.34 dB [29.20, 31.48] (n=2), above bicubic 30.08 dB: the whole interval is above it'."""
    metric = summary.metric
    value = metric.value(d.mean)
    if d.n >= 2:
        value += f" {fmt.interval(d, metric.decimals)}"
    what = f"{variant}: final {metric.label} {value} (n={d.n}) against {reference.name} "
    what += metric.value(reference.value)
    if side == UNCLEAR:
        why = ("one seed has no interval" if d.n < 2 else "2 seeds cannot bound the mean" if math.isnan(d.ci_low)
               else "the interval includes it")
        return f"{what}: not clearly above or below ({why})"
    return f"{what}: {side} it (the whole 95% interval is {side})"
