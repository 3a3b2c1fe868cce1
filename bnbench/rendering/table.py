"""The summary in the terminal, read in five seconds: the metric against its reference and the verdict per variant,
what each cost (wall time, kWh, cups of tea, CO2, money) with the session's totals, then the verdict sentences.

Both tables fit 80 columns for ordinary variant names. No cell is ever cut: numbers never wrap, words wrap whole.
Piped (a log, CI, `tee`) nothing is wrapped at all and nothing is coloured: each row and sentence is one line.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from bnbench.analysis.summary import Summary
from bnbench.rendering import terminal
from bnbench.rendering.document import rounds_text
from bnbench.rendering.glance import Glance, VariantGlance


def _table(*headers: str) -> Table:
    """A borderless table. A cell too wide for a narrow terminal wraps at its spaces (a long word folds onto the
    next line); nothing is ever cut short with an ellipsis."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def plain_table(title: str | None = None) -> Table:
    """The borderless style of every table a command prints (a rule under the header, no box), `title` above
    it on the left."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def quality_table(glance: Glance) -> Table:
    reference = glance.reference
    columns = ["variant", "runs", f"{glance.metric_header}\nmean [95% CI]"]
    if reference is not None:
        columns.append(f"vs {reference.name}\n{glance.reference_value}")
    columns.append(f"vs {glance.baseline}")
    table = _table(*columns)
    for v in glance.variants:
        cells = [v.variant, v.runs, v.metric] + ([v.vs_reference] if reference is not None else []) + [v.verdict]
        table.add_row(*cells)
    return table


def cost_table(glance: Glance) -> Table:
    mixed = len({v.source for v in glance.variants}) > 1
    columns = ["variant", "measured time", "kWh", "cups of tea", "CO2", "cost"] + (["energy source"] if mixed else [])

    def cells(v: VariantGlance) -> list[str]:
        return [v.variant, v.wall, v.kwh, v.cups, v.co2, v.cost] + ([v.source] if mixed else [])

    table = _table(*columns)
    for v in glance.variants:
        table.add_row(*cells(v))
    table.add_section()
    table.add_row(*cells(glance.total))
    return table


say = terminal.say  # here too, beside the tables it is used with


def show(console: Console, table: Table) -> None:
    """A table at the terminal's width, or piped at its natural width so that no row wraps."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update(max_width=100_000)).maximum
    width = console.width
    console.width = max(width, natural)  # print() caps a table's width at the console's
    try:
        console.print(table)
    finally:
        console.width = width


def notes(summary: Summary, energy: dict[str, Any] | None = None) -> list[str]:
    """What the verdicts rest on beyond each line: the multiple-comparison correction, and for adaptive seeds what
    was not spent (`energy`: the scenario's [energy] settings, for cups of tea)."""
    lines = []
    if len(summary.comparisons) > 1:
        lines.append(f"verdicts corrected for {len(summary.comparisons)} comparisons with {summary.baseline} (Holm)")
    if summary.rounds is not None:
        lines.append(rounds_text(summary.rounds, energy or {}))
    return lines


def print_glance(glance: Glance, console: Console, extra: list[str] | None = None) -> None:
    """The headline, the two tables, the verdicts, each variant against the reference, and `extra` lines."""
    say(console, glance.headline)
    console.print()
    show(console, quality_table(glance))
    console.print()
    show(console, cost_table(glance))
    say(console, f"(totals over each variant's runs; {glance.source_note})")
    console.print()
    for line in [*glance.verdicts, *(extra or []), *glance.reference_lines]:
        say(console, line)
