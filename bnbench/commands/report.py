"""`bnbench report DIR`: every table, plot and report from the files alone."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from bnbench.errors import UserError

FORMATS = ("table", "md", "html", "json")


def check_format(value: str, allowed: tuple[str, ...] = FORMATS) -> str:
    if value not in allowed:
        raise UserError(f"--format must be one of {', '.join(allowed)} (got '{value}')")
    return value


def report(root: Path, output: str = "table", console: Console | None = None,
           higher_is_better: bool | None = None, svg: bool = False) -> None:
    """Rewrite report.md, report.html and report.json in ROOT (and the figures whose data changed, as SVG too
    when `svg`), then print the chosen format: the glance as tables, the markdown or JSON text, or for html the
    page's path."""
    from bnbench.analysis.results import load
    from bnbench.rendering.figure_files import begin

    check_format(output)
    console = console or Console()
    # The power figure's child starts before pandas and the statistics are imported: it needs runs.csv alone.
    power = begin(Path(root), svg)
    try:
        results = load(root, higher_is_better)
        from bnbench.rendering import glance
        from bnbench.rendering.report import write_reports
        from bnbench.rendering.table import notes, print_glance, say

        rendered = write_reports(results, svg, power)
    finally:
        power.close()
    if output == "table":
        if results.summary.figures.empty:
            say(console, "no run finished")
        else:
            print_glance(glance.build(results), console, notes(results.summary, results.scenario.get("energy", {})))
        files = ", ".join(["report.md", "report.html", "report.json", f"{len(rendered.plots)} figures"])
        say(console, f"report: {root / 'report.html'} ({files})")
    elif output == "html":  # a page is for a browser, not a terminal: where it is
        console.file.write(f"{root / 'report.html'}\n")
    else:
        text = {"md": rendered.markdown, "json": rendered.json}[output]
        console.file.write(text if text.endswith("\n") else text + "\n")


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
