"""The lab report's content as a list of blocks (headings, paragraphs, tables, figures), format-free.

`report.py` renders the same blocks to Markdown and to HTML, so both say exactly the same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bnbench.analysis import verdict
from bnbench.analysis.folder import is_estimate
from bnbench.analysis.results import Results
from bnbench.analysis.stats import Difference, Ratio
from bnbench.analysis.summary import (
    COMPARED,
    ENERGY_FIGURES,
    FIGURES,
    Comparison,
    Summary,
    VariantSummary,
)
from bnbench.energy import busy
from bnbench.rendering import format as fmt
from bnbench.rendering import glance
from bnbench.rendering.figure_files import Plot
from bnbench.rendering.sharing import sharing_lines
from bnbench.units import WH_PER_CUP


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    """Text; `verbatim` for text a scenario wrote, which renderers escape so it can never become markup."""

    text: str
    verbatim: bool = False


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class TableBlock:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass(frozen=True)
class FigureBlock:
    plot: Plot


Block = Heading | Paragraph | Bullets | TableBlock | FigureBlock

FIGURE_LABELS = {
    "final": "final {metric}", "best": "best {metric}", "wall_s": "wall time (s)", "measured_s": "measured time (s)",
    "energy_j": "energy (J)",
    "steps_to_target": "steps to target", "time_to_target_s": "time to target (s)",
    "energy_to_target_j": "energy to target (J)",
}


def phrase(word: str) -> str:
    return {verdict.BETTER: "is better than", verdict.WORSE: "is worse than",
            verdict.EQUIVALENT: "is equivalent to"}.get(word, "is undecided against")


def short_verdict(c: Comparison, summary: Summary) -> str:
    """'bn is worse than control in final PSNR (-1.56 dB [-2.1, -1.0], p=0.003, n=3) at 1.02 x the energy'."""
    metric = summary.metric
    d = c.differences["final"]
    energy = verdict.ratio_text(c.ratios["energy_j"], "energy", "estimate" if is_estimate(summary.energy_source)
                                else "")
    energy = energy if energy.endswith(verdict.NOT_MEASURED) else f"at {energy}"
    detail = verdict.decision_text(c.decision, d, metric).removeprefix(f"{metric.label} ")
    return (f"{c.variant} {phrase(c.verdict)} {c.baseline} in final {metric.label} "
            f"({detail}; {c.decision.reason}), {energy}")


def abstract(results: Results, summary: Summary) -> str:
    seeds = results.scenario.get("scenario", {}).get("seeds", [])
    devices = ", ".join(str(d) for d in results.manifest.get("devices", [])) or "unrecorded devices"
    task = results.scenario.get("task", {}).get("name", "the task")
    variants = ", ".join(summary.variants)
    first = (f"We trained {len(summary.variants)} variants ({variants}) on {task} with {len(seeds) or 'several'} "
             f"seeds each on {devices}, and compared each with {summary.baseline} in final "
             f"{summary.metric.label}, wall time and energy.")
    if not summary.comparisons:
        return first + f" There was nothing to compare: the baseline '{summary.baseline}' has no runs."
    return first + " " + "; ".join(short_verdict(c, summary) for c in summary.comparisons.values()) + "."


def setting(value: Any) -> str:
    """A scenario value as written in TOML, floats without binary noise (33.333333333333336 -> 33.3333)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


QUOTE_CHARS = 2000  # of a scenario's description: a report quotes a paragraph, not a whole file


def quoted(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much more scenario.toml holds."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters in scenario.toml)"


def resume_notes(manifest: dict[str, Any]) -> list[str]:
    """One line per resume that changed settings (`--force`): what changed, which runs trained with the change and
    which had finished before it, so the settings table below (the latest) is not read as every run's."""
    notes = []
    for entry in manifest.get("resumes", []):
        changes = entry.get("changes") or []
        if not changes:
            continue
        text = f"Resumed {entry.get('started_at', '?')} with changed settings ({'; '.join(changes)})"
        if "trained" in entry:
            trained = ", ".join(entry["trained"]) or "none"
            before = ", ".join(entry.get("finished_before", [])) or "none"
            text += f": runs trained on with them: {trained}; runs finished before, with the earlier settings: {before}"
        notes.append(text + ". The settings below are the latest.")
    return notes


# [task] keys that only a command's run reads, and those only super-resolution's images read.
COMMAND_KEYS = frozenset({"command", "metric", "higher_is_better", "metric_required", "parse", "workdir", "grace_s",
                          "echo"})
IMAGE_KEYS = frozenset({"scale", "patch_size", "validation", "input", "eval_size"})


def applying(section: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A section's settings less the keys its task never reads (a command's `workdir` in a super-resolution run,
    a patch size in a command's): the resolved scenario.toml holds every key with its default."""
    if section != "task":
        return settings
    name = settings.get("name")
    if name == "command":
        return {k: v for k, v in settings.items() if k == "name" or k in COMMAND_KEYS}
    unused = COMMAND_KEYS if name == "super-resolution" else COMMAND_KEYS | IMAGE_KEYS
    return {k: v for k, v in settings.items() if k not in unused}


def procedure(results: Results) -> list[Block]:
    m, sc = results.manifest, results.scenario
    head = sc.get("scenario", {})
    gpus = ", ".join(str(g.get("name", g)) if isinstance(g, dict) else str(g) for g in m.get("gpus", [])) or "none"
    commit = m.get("code_commit")
    code = f"{commit[:12]}{' (modified)' if m.get('code_dirty') else ''}" if commit else "not from a git checkout"
    blocks: list[Block] = [
        Paragraph(quoted(str(head.get("description", ""))), verbatim=True) if head.get("description")
        else Paragraph(f"Scenario '{results.name}'."),
        Bullets([
            f"Scenario: {results.name}; seeds {head.get('seeds', [])}; baseline {results.baseline}; "
            f"target {results.metric.value(results.target) if results.target is not None else 'none'}.",
            f"Hardware: host {m.get('host', '?')}, CPU {m.get('cpu', '?')} ({m.get('cpu_count', '?')} cores), "
            f"GPUs {gpus}; devices used: {', '.join(map(str, m.get('devices', []))) or '?'}.",
            f"Software: bnbench {m.get('bnbench', '?')} (code {code}), Python {m.get('python', '?')}, "
            f"torch {m.get('torch', '?')}, CUDA {m.get('cuda') or 'none'}, numpy {m.get('numpy', '?')}.",
            f"Started {m.get('started_at', '?')}, ended {m.get('ended_at') or 'not recorded (cut short?)'}; "
            f"command: `{' '.join(map(str, m.get('command', []))) or '?'}`.",
            *resume_notes(m),
        ]),
    ]
    rows = [[section, ", ".join(f"{key} = {setting(value)}" for key, value in applying(section, sc[section]).items())]
            for section in ("task", "model", "train", "energy") if sc.get(section)]
    if rows:
        blocks.append(TableBlock(["section", "settings"], rows, "Hyperparameters (the scenario as resolved)"))
    variants = [[str(v.get("name")), ", ".join(f"{k} = {setting(val)}" for k, val in v.items() if k != "name") or "-"]
                for v in sc.get("variant", [])]
    if variants:
        blocks.append(TableBlock(["variant", "overrides"], variants, "Variants"))
    return blocks


def variant_rows(summary: Summary) -> list[list[str]]:
    metric = summary.metric
    dec = metric.decimals
    rows = []
    for v in summary.variants.values():
        f = v.figures
        status = ", ".join(f"{n} {s}" for s, n in v.statuses.items())
        rows.append([
            v.variant, status, fmt.mean_sd(f["final"], dec), fmt.interval(f["final"], dec),
            fmt.mean_sd(f["best"], dec), fmt.mean_sd(f["gap"], dec), fmt.mean_sd(f["loss_spikes"], 1),
            fmt.mean_sd(f["wall_s"], 1), energy_cell(v),
            f"{v.reached} of {v.completed}" if summary.target is not None else "no target",
            fmt.mean_sd(f["steps_to_target"], 0), fmt.mean_sd(f["time_to_target_s"], 1),
            fmt.seconds(v.olympic_time_to_target_s),
            fmt.energy(f["energy_to_target_j"].mean, v.energy_source) if v.reached else "n/a",
        ])
    return rows


VARIANT_HEADERS = [
    "variant", "runs", "final {m}", "95% CI", "best {m}", "final-vs-best gap", "loss spikes", "wall s",
    "energy", "reached target", "steps to target", "s to target", "olympic time to target", "energy to target",
]


def energy_cell(v: VariantSummary) -> str:
    """'3.50 ± 0.20 J (estimate)', '1.21 ± 0.03 kWh (nvml-counter)', or 'not measured'."""
    d = v.figures["energy_j"]
    if d.n == 0:
        return fmt.NOT_MEASURED
    divisor, unit = fmt.energy_scale(d.mean)
    text = fmt.plus_minus(d.mean / divisor, d.sd / divisor) if d.n > 1 else fmt.significant(d.mean / divisor)
    text += f" {unit}"
    return text + (" (estimate)" if is_estimate(v.energy_source) else f" ({v.energy_source})")


def spread_rows(summary: Summary) -> list[list[str]]:
    """n, mean, sd, median, min-max and the 95% t interval of every per-run figure, per variant."""
    rows = []
    for v in summary.variants.values():
        for figure, (label, _) in FIGURES.items():
            d = v.figures[figure]
            if d.n == 0:
                continue
            dec = summary.metric.decimals if figure in ("final", "best", "gap") else 0 if figure.startswith(
                "steps") else 1
            name = f"{label} {summary.metric.label}" if figure in ("final", "best") else label
            if figure in ENERGY_FIGURES and is_estimate(v.energy_source):
                name += " (estimate)"
            rows.append([v.variant, name, str(d.n), fmt.number(d.mean, dec), fmt.number(d.sd, dec),
                         fmt.number(d.median, dec), f"{fmt.number(d.min, dec)} - {fmt.number(d.max, dec)}",
                         fmt.interval(d, dec)])
    return rows


def difference_cell(d: Difference, decimals: int) -> str:
    if math.isnan(d.diff):
        return "n/a"
    return f"{d.diff:+.{decimals}f}" + verdict.interval_or_why(d.ci_low, d.ci_high, min(d.n_a, d.n_b),
                                                                f"+.{decimals}f")


def ratio_cell(r: Ratio) -> str:
    if math.isnan(r.ratio):
        return "n/a"
    return f"{r.ratio:.2f}" + verdict.interval_or_why(r.ci_low, r.ci_high, r.n, ".2f")


def comparison_rows(summary: Summary) -> list[list[str]]:
    rows = []
    for c in summary.comparisons.values():
        for figure in COMPARED:
            d = c.differences[figure]
            decimals = summary.metric.decimals if figure in ("final", "best") else 1
            label = FIGURE_LABELS[figure].format(metric=summary.metric.label)
            if figure in ENERGY_FIGURES and is_estimate(summary.energy_source):
                label += " (estimate)"
            rows.append([c.variant, label,
                         difference_cell(d, decimals), ratio_cell(c.ratios[figure]),
                         verdict.p_text(d.p) or "-", f"{d.n_b} vs {d.n_a}",
                         verdict.verdict_cell(c.verdicts[figure], decimals)])
    return rows


def pairing_blocks(summary: Summary) -> list[Block]:
    blocks: list[Block] = []
    metric = summary.metric
    for c in summary.comparisons.values():
        won, total = c.seeds_won
        rows = [[str(r.seed), metric.value(r.baseline), metric.value(r.variant), metric.value(r.difference, True),
                 c.variant if r.won else c.baseline] for r in c.pairs.itertuples()]
        caption = f"{c.variant} beat {c.baseline} on {won} of {total} seeds (final {metric.label}, same seed)"
        blocks.append(TableBlock(["seed", c.baseline, c.variant, "difference", "better"], rows, caption))
    return blocks


def run_rows(summary: Summary) -> list[list[str]]:
    metric = summary.metric
    rows = []
    for r in summary.figures.itertuples():
        rows.append([r.run_id, r.status, str(int(r.steps)) if pd.notna(r.steps) else "n/a", fmt.number(r.wall_s, 1),
                     metric.value(r.final), metric.value(r.best), fmt.energy(r.energy_j, str(r.energy_source)),
                     str(r.energy_source), "yes" if r.reached else "no",
                     fmt.number(r.time_to_target_s, 1),
                     fmt.energy(r.energy_to_target_j, str(r.energy_source)) if r.reached else "n/a",
                     "n/a" if pd.isna(r.loss_spikes) else str(int(r.loss_spikes)), busy_cell(r.gpu_busy_pct)])
    return rows


def busy_cell(pct: float) -> str:
    """'87', '31 (under half busy)', or '-' for a run without a GPU figure (a CPU run)."""
    if pd.isna(pct):
        return "-"
    return f"{pct:.0f}" + (" (under half busy)" if busy.under_busy(pct) else "")


def busy_blocks(summary: Summary) -> list[Block]:
    """A warning when runs kept their GPU under half busy: their comparison measures overhead, not work."""
    figures = summary.figures
    values = pd.to_numeric(figures["gpu_busy_pct"], errors="coerce")
    low = figures[values < busy.UNDER_BUSY_PCT]
    if low.empty:
        return []
    shown = ", ".join(f"{r.run_id} {r.gpu_busy_pct:.0f}%" for r in low.head(8).itertuples())
    more = f" and {len(low) - 8} more" if len(low) > 8 else ""
    return [Paragraph(f"{len(low)} of {int(values.notna().sum())} GPU runs kept their GPU under half busy "
                      f"({shown}{more}): {busy.advice(float(values.median()))}.")]


def energy_blocks(results: Results, summary: Summary) -> list[Block]:
    runs = results.runs
    source = summary.energy_source

    def total(column: str) -> float:
        values = pd.to_numeric(runs[column], errors="coerce") if column in runs else pd.Series(dtype=float)
        return float(values.sum()) if values.notna().any() else math.nan

    energy_j = total("energy_j")
    if math.isnan(energy_j):
        return [Paragraph(
            "Energy was not measured in this session (energy source 'none': no power sensor was readable and "
            "estimation was off, or this folder predates energy measurement). Every energy figure in this report "
            "says 'not measured'; none is zero.")]
    label = "an ESTIMATE from a power model, not a measurement" if is_estimate(source) else f"measured by {source}"
    kwh, tea, co2, cost = total("kwh"), total("tea_cups"), total("co2_g"), total("cost")
    currency = results.scenario.get("energy", {}).get("currency", "")
    wh_per_cup = float(results.scenario.get("energy", {}).get("wh_per_cup", WH_PER_CUP))
    parts = [f"All runs together used {fmt.energy(energy_j)} ({fmt.significant(kwh)} kWh), {label}."]
    if not math.isnan(tea):
        parts.append(f"That is {fmt.count(tea)} cups of tea ({wh_per_cup:.1f} Wh per cup).")
    if not math.isnan(co2):
        parts.append(f"CO2: {fmt.co2(co2)}.")
    if not math.isnan(cost):
        parts.append(f"Cost: {fmt.cost(cost, currency)}.")
    net = total("net_kwh")
    if not math.isnan(net):
        parts.append(f"Above the idle baseline: {fmt.significant(net)} kWh.")
    discrepancy = pd.to_numeric(runs.get("energy_discrepancy", pd.Series(dtype=float)), errors="coerce").dropna()
    if len(discrepancy):
        parts.append(f"Cross-check: the sampled power, integrated, differs from each run's energy figure by "
                     f"{discrepancy.abs().max() * 100:.1f}% at most (median {discrepancy.median() * 100:+.1f}%).")
    return [Paragraph(" ".join(parts))]


def conclusion(summary: Summary) -> list[Block]:
    if not summary.comparisons:
        return [Paragraph("No comparison could be made: the baseline has no runs in this folder.")]
    metric = summary.metric
    lines = []
    for c in summary.comparisons.values():
        d = c.differences["final"]
        v = summary.variants[c.variant]
        text = f"{c.variant} {phrase(c.verdict)} {c.baseline} in final {metric.label}"
        decided_on = c.decision
        if c.verdict == verdict.UNDECIDED and d.testable and decided_on.interval_label:
            half = (decided_on.ci_high - decided_on.ci_low) / 2  # the interval the decision used, as shown
            text += (f": with {d.n_b} and {d.n_a} seeds, a difference smaller than about "
                     f"{metric.value(half)} cannot be told from seed luck at this level "
                     f"({decided_on.interval_label})")
            more = c.decision.more_seeds
            if more:
                text += (f", and telling {metric.value(summary.margin)} apart needs about {more} more seeds per "
                         f"variant ({summary.design.power:.0%} power)")
            elif summary.margin is None:
                text += "; set [stats] min_effect to tell 'the same' from 'not enough seeds'"
        elif not d.testable:
            text += ": more seeds are needed before any difference can be told from seed luck"
        won, total = c.seeds_won
        text += f". It beat {c.baseline} on {won} of {total} seeds"
        if v.diverged:
            text += f", and {v.diverged} of its {v.runs} runs diverged"
        spikes, base_spikes = v.figures["loss_spikes"], summary.variants[c.baseline].figures["loss_spikes"]
        if spikes.n and base_spikes.n:
            text += (f"; its training loss spiked {fmt.number(spikes.mean, 1)} times per run against "
                     f"{fmt.number(base_spikes.mean, 1)} for {c.baseline}")
        energy_word = c.words["energy_j"]
        text += f". Energy: {energy_word}" + (" (estimated)" if is_estimate(summary.energy_source) else "") + "."
        lines.append(text)
    return [Bullets(lines)]


def decision_rules(summary: Summary) -> str:
    """How the verdict words were decided for this folder: alpha, margin, Holm, sequential looks."""
    design, metric = summary.design, summary.metric
    m = len(summary.comparisons)
    text = (f"A difference is called better or worse when its t-test's p (Welch's statistic with Hsu's "
            f"conservative degrees of freedom, min(n) - 1, which hold alpha whatever the two spreads) is at most "
            f"alpha = {design.alpha:g} (its interval excludes zero), equivalent when the interval at twice that "
            f"level (two one-sided tests) lies inside +-min_effect, and otherwise undecided, with the reason. Each "
            f"verdict shows the interval it was decided with.")
    text += (f" min_effect is {metric.value(summary.margin)}." if summary.margin is not None else
             " No [stats] min_effect is set, so no comparison can be called equivalent.")
    if m > 1:
        text += (f" The {m} variants against {summary.baseline} are one family: Holm's step-down correction keeps "
                 f"the chance of any false verdict at {design.alpha:g} (the smallest p is tested at alpha / {m}, "
                 "the next at alpha / " + (f"{m - 1}" if m > 2 else "1") + ", and so on).")
    if design.sequential:
        text += (f" Seeds were adaptive: after each round from {design.n_min} to {design.n_max}, the final "
                 f"{metric.label} was tested at the {design.spending} alpha-spending boundary of that round "
                 "(Lan-DeMets), so looking after every round keeps the stated error rates; a decision stands once "
                 "reached.")
    return text


def rounds_blocks(results: Results, summary: Summary) -> list[Block]:
    """Adaptive seeds: how far the session went, why it stopped, and what it did not spend."""
    r = summary.rounds
    if r is None:
        return []
    return [Paragraph(rounds_text(r, results.scenario.get("energy", {})))]


def rounds_text(r: Any, energy: dict[str, Any]) -> str:
    """'decided after 5 of at most 20 seeds; 15 rounds not run: about 4.1 kWh (123 cups of tea) not spent'."""
    from bnbench.units import WH_PER_CUP, tea_cups

    if r.stop == "decided":
        why = f"decided after {r.run} of at most {r.n_max} seeds"
    elif r.stop == "max":
        why = f"stopped at the maximum of {r.n_max} seeds"
    elif r.stop == "budget_kwh":
        why = (f"stopped after {r.run} of at most {r.n_max} seeds: the next round would pass the budget of "
               f"{r.budget_kwh:.3g} kWh")
    elif r.stop == "budget_s":
        why = (f"stopped after {r.run} of at most {r.n_max} seeds: the next round would pass the budget of "
               f"{fmt.seconds(r.budget_s)} of run time")
    else:
        why = f"{r.run} of at most {r.n_max} rounds run so far (at least {r.n_min})"
    if not r.not_run or r.stop is None:
        return why[0].upper() + why[1:] + "."
    saved = f"{r.not_run} round{'s' if r.not_run != 1 else ''} not run"
    if math.isfinite(r.saved_energy_j):
        cups = tea_cups(r.saved_energy_j, float(energy.get("wh_per_cup", WH_PER_CUP)))
        saved += f": about {fmt.energy(r.saved_energy_j)} ({fmt.significant(cups)} cups of tea) not spent"
    else:
        saved += f" (about {fmt.seconds(r.not_run * r.round_s)} of run time not spent; energy was not measured)"
    return why[0].upper() + why[1:] + "; " + saved + "."


def glance_blocks(g: glance.Glance) -> list[Block]:
    """The answer first, as the terminal shows it: verdicts, the reference, kWh and cups of tea."""
    quality = ["variant", "runs", f"{g.metric_header}, mean [95% CI]"]
    quality += [f"vs {g.reference.name} ({g.reference_value})"] if g.reference else []
    quality += [f"vs {g.baseline}"]
    rows = [[v.variant, v.runs, v.metric, *([v.vs_reference] if g.reference else []), v.verdict] for v in g.variants]
    costs = [[v.variant, v.wall, v.kwh, v.cups, v.co2, v.cost, v.source] for v in [*g.variants, g.total]]
    return [
        Heading(2, "At a glance"), Paragraph(g.headline + "."),
        Bullets([*g.verdicts, *g.reference_lines]) if g.verdicts or g.reference_lines else Paragraph("No verdicts."),
        TableBlock(quality, rows, "Quality per variant"),
        TableBlock(["variant", "measured time", "kWh", "cups of tea", "CO2", "cost", "energy source"], costs,
                   f"What each variant cost (all its runs) and the session's total; {g.source_note}"),
    ]


def build(results: Results, summary: Summary, plots: list[Plot]) -> tuple[str, list[Block]]:
    """(title, blocks) of the lab report."""
    m = summary.metric.label
    title = f"{results.name}: {', '.join(summary.variants)} — a bnbench lab report"
    # The figures right after the answer at a glance: they are what a reader looks at next.
    figures: list[Block] = [Heading(2, "Figures"), *(FigureBlock(plot) for plot in plots)] if plots else []
    blocks: list[Block] = [
        *glance_blocks(glance.build(results, summary)),
        *figures,
        Heading(2, "Abstract"), Paragraph(abstract(results, summary)),
        Heading(2, "Experimental Procedure"), *procedure(results),
        Heading(2, "Results"),
        Paragraph("Statistics are over completed runs (one per seed). Intervals are 95%: Student-t for a mean, "
                  "Welch for a difference (with Welch's t-test p-value), the delta method on the log scale for a "
                  "ratio. Time and energy to target count from the first training step to the end of the first "
                  "evaluation at or past the target (MLPerf's rule). A verdict shows the interval its decision used: "
                  "with several variants (Holm) or adaptive seeds that is stricter than 95%, and it is named."),
        Paragraph(decision_rules(summary)),
        *rounds_blocks(results, summary),
        TableBlock([h.format(m=m) for h in VARIANT_HEADERS], variant_rows(summary), "Per variant (mean ± sd)"),
        TableBlock(["variant", "figure", "n", "mean", "sd", "median", "min-max", "95% CI"], spread_rows(summary),
                   "Spread over seeds (completed runs; to-target figures over the runs that reached the target)"),
    ]
    if summary.comparisons:
        blocks.append(TableBlock(["variant", "figure", f"difference vs {summary.baseline} [95% CI]",
                                  "ratio [95% CI]", "Welch p", "n", "verdict: the interval it used"],
                                 comparison_rows(summary),
                                 f"Against {summary.baseline}: variant minus {summary.baseline}, and variant / "
                                 f"{summary.baseline}"))
        blocks += pairing_blocks(summary)
    blocks.append(TableBlock(["run", "status", "steps", "wall s", f"final {m}", f"best {m}", "energy", "source",
                              "reached target", "s to target", "energy to target", "loss spikes", "GPU busy %"],
                             run_rows(summary), "Per run"))
    shared = [Paragraph(line) for line in sharing_lines(results.runs, results.manifest)]
    blocks += [Heading(2, "Energy"), *energy_blocks(results, summary), *busy_blocks(summary), *shared,
               Heading(2, "Conclusion"), *conclusion(summary)]
    return title, blocks
