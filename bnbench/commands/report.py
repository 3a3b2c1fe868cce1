"""`bnbench report DIR` and `bnbench compare DIR_A DIR_B`: every table, plot and report from the files alone."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bnbench.errors import UserError

FORMATS = ("table", "md", "html", "json")


def check_format(value: str, allowed: tuple[str, ...] = FORMATS) -> str:
    if value not in allowed:
        raise UserError(f"--format must be one of {', '.join(allowed)} (got '{value}')")
    return value


def report(root: Path, output: str = "table", console: Console | None = None,
           higher_is_better: bool | None = None) -> None:
    """Rewrite figures/, report.md, report.html and report.json in ROOT, then print the chosen format."""
    from bnbench.analysis.results import load
    from bnbench.rendering import glance
    from bnbench.rendering.report import write_reports
    from bnbench.rendering.table import notes, print_glance, say

    check_format(output)
    console = console or Console()
    results = load(root, higher_is_better)
    rendered = write_reports(results)
    if output == "table":
        if results.summary.figures.empty:
            say(console, "no run finished")
        else:
            print_glance(glance.build(results), console, notes(results.summary, results.scenario.get("energy", {})))
        files = ", ".join(["report.md", "report.html", "report.json", f"{len(rendered.plots)} figures"])
        say(console, f"report: {root / 'report.html'} ({files})")
    else:
        text = {"md": rendered.markdown, "html": rendered.html, "json": rendered.json}[output]
        console.file.write(text if text.endswith("\n") else text + "\n")


def compare(root_a: Path, root_b: Path, output: str = "table", console: Console | None = None) -> None:
    """Print, per variant in both folders, B's runs against A's: differences, ratios, verdicts."""
    from rich.markup import escape

    from bnbench.analysis.compare import compare_folders
    from bnbench.analysis.results import load
    from bnbench.analysis.summary import COMPARED
    from bnbench.analysis.verdict import p_text, verdict_cell
    from bnbench.rendering.document import FIGURE_LABELS, difference_cell, ratio_cell, to_jsonable

    check_format(output, ("table", "json"))
    console = console or Console()
    a, b = load(root_a), load(root_b)
    result = compare_folders(a, b)
    if output == "json":
        data = {"a": str(root_a), "b": str(root_b), "only_a": result.only_a, "only_b": result.only_b,
                "variants": {v: {"sentence": c.sentence, "words": c.words,
                                 "decisions": {k: vars(d) for k, d in c.verdicts.items()},
                                 "differences": {k: vars(d) for k, d in c.differences.items()},
                                 "ratios": {k: vars(r) for k, r in c.ratios.items()}}
                             for v, c in result.comparisons.items()}}
        console.file.write(json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n")
        return
    table = Table(title=f"{result.label_b} against {result.label_a} (B minus A; 95% Welch intervals)")
    for column in ("variant", "figure", "difference [95% CI]", "ratio [95% CI]", "Welch p", "n",
                   "verdict: the interval it used"):
        table.add_column(column)
    for variant, c in result.comparisons.items():
        for figure in COMPARED:
            d = c.differences[figure]
            decimals = a.metric.decimals if figure in ("final", "best") else 1
            name = FIGURE_LABELS[figure].format(metric=a.metric.label)
            cells = [variant, name, difference_cell(d, decimals), ratio_cell(c.ratios[figure]), p_text(d.p) or "-",
                     f"{d.n_b} vs {d.n_a}", verdict_cell(c.verdicts[figure], decimals)]
            table.add_row(*(escape(cell) for cell in cells))  # '[n/a: ...]' is text, not rich markup
    console.print(table)
    for c in result.comparisons.values():
        console.print(c.sentence, markup=False, highlight=False)
    for label, only in ((result.label_a, result.only_a), (result.label_b, result.only_b)):
        if only:
            console.print(f"only in {label}: {', '.join(only)}", markup=False, highlight=False)


def report_after_run(root: Path, console: Console) -> str | None:
    """After `bnbench run`: write the reports and print the tables and verdicts. A failure here loses nothing
    (the results are on disk), so it is one line that says how to retry, not a crash of the finished session.
    Returns "interrupted" when a Ctrl-C stopped it (each file it writes is replaced atomically, so none is half
    written), else None."""
    try:
        report(root, "table", console)
    except KeyboardInterrupt:
        console.print(f"interrupted while writing the report: the results are saved; rebuild it with: "
                      f"bnbench report {root}", markup=False, highlight=False)
        return "interrupted"
    except Exception as exc:  # noqa: BLE001 - training is done and saved; the report can be rebuilt
        console.print(f"report not written ({type(exc).__name__}: {exc}); retry with: bnbench report {root}",
                      markup=False, highlight=False)
    return None
