"""The summary in the terminal: a rich table per variant, the comparison with the baseline, the verdicts."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bnbench.analysis import format as fmt
from bnbench.analysis.document import comparison_rows, energy_cell, rounds_text
from bnbench.analysis.summary import Summary


def variant_table(summary: Summary) -> Table:
    metric = summary.metric
    dec = metric.decimals
    table = Table(title=f"{summary.name}: per variant (mean ± sd over completed seeds)")
    columns = ("variant", "runs", f"final {metric.label}", "95% CI", f"best {metric.label}", "spikes", "wall s",
               "energy", "reached target", "time to target")
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "runs", "energy") else "right")
    for v in summary.variants.values():
        f = v.figures
        table.add_row(
            v.variant, ", ".join(f"{n} {s}" for s, n in v.statuses.items()), fmt.mean_sd(f["final"], dec),
            fmt.interval(f["final"], dec), fmt.mean_sd(f["best"], dec), fmt.mean_sd(f["loss_spikes"], 1),
            fmt.mean_sd(f["wall_s"], 1), energy_cell(v),
            f"{v.reached} of {v.completed}" if summary.target is not None else "no target",
            fmt.mean_sd(f["time_to_target_s"], 1),
        )
    if summary.target is not None:
        table.caption = f"target {metric.value(summary.target)}"
    return table


def comparison_table(summary: Summary) -> Table:
    table = Table(title=f"against {summary.baseline} (variant minus {summary.baseline}; 95% Welch intervals)")
    for column in ("variant", "figure", "difference [95% CI]", "ratio [95% CI]", "Welch p", "n", "verdict"):
        table.add_column(column)
    for row in comparison_rows(summary):
        table.add_row(*row)
    return table


def print_summary(summary: Summary, console: Console, energy: dict | None = None) -> None:
    """The per-variant table, the comparison table, one verdict line per variant, and for adaptive seeds what
    was not spent (`energy`: the scenario's [energy] settings, for cups of tea)."""
    energy = energy or {}
    if summary.figures.empty:
        console.print("no run finished")
        return
    console.print(variant_table(summary))
    if summary.comparisons:
        console.print(comparison_table(summary))
        for line in summary.verdicts:
            console.print(line, markup=False, highlight=False)
        if len(summary.comparisons) > 1:
            console.print(f"verdicts corrected for {len(summary.comparisons)} comparisons with {summary.baseline} "
                          "(Holm)", markup=False, highlight=False)
    else:
        console.print(f"no comparison: the baseline '{summary.baseline}' has no runs", markup=False)
    if summary.rounds is not None:
        console.print(rounds_text(summary.rounds, energy), markup=False, highlight=False)
