"""`bnbench compare DIR_A DIR_B`: B's runs against A's per shared variant, and with `--fail-on worse` a CI gate
that exits 1 when B is worse beyond seed luck (analysis/gate.py)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from bnbench.commands.report import check_format
from bnbench.errors import UserError

if TYPE_CHECKING:
    from bnbench.analysis.compare import FolderComparison
    from bnbench.analysis.gate import Gate
    from bnbench.analysis.metric_info import MetricInfo

FORMATS = ("table", "json", "github")
EXIT_GATE_FAILED = 1


@dataclass(frozen=True)
class GateOptions:
    """`--fail-on worse`: gate on `quantities` (metric, energy, wall), energy and wall time worse by more than
    `tolerance_pct` percent of A's mean, Holm's family at `alpha`."""

    quantities: tuple[str, ...]
    tolerance_pct: float = 0.0
    alpha: float = 0.05


def gate_options(fail_on: str | None, gate_on: str | None, tolerance_pct: float | None) -> GateOptions | None:
    """The gate's options from the flags, checked before any folder is read. None without `--fail-on`."""
    from bnbench.analysis.gate import QUANTITIES, check_fail_on, parse_quantities

    if fail_on is None:
        given = [flag for flag, value in (("--gate-on", gate_on), ("--tolerance", tolerance_pct)) if value is not None]
        if given:
            raise UserError(f"{' and '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} with --fail-on worse")
        return None
    check_fail_on(fail_on)
    if tolerance_pct is not None and not 0 <= tolerance_pct < 100:
        raise UserError(f"--tolerance is a percentage of A's mean, from 0 to below 100 (got {tolerance_pct:g})")
    quantities = parse_quantities(gate_on) if gate_on is not None else tuple(QUANTITIES)
    return GateOptions(quantities, tolerance_pct or 0.0)


def compare(root_a: Path, root_b: Path, output: str = "table", console: Console | None = None,
            gate_with: GateOptions | None = None) -> int:
    """Print, per variant in both folders, B's runs against A's: differences, ratios, verdicts; with a gate, its
    answer. Returns the exit code: 1 when the gate failed, else 0."""
    from bnbench.analysis.compare import compare_folders
    from bnbench.analysis.gate import gate
    from bnbench.analysis.results import load

    check_format(output, FORMATS)
    console = console or Console()
    a, b = load(root_a), load(root_b)
    result = compare_folders(a, b)
    verdict = None
    if gate_with is not None:
        verdict = gate(a.summary.figures, b.summary.figures, a.variants, b.variants, result.label_a, result.label_b,
                       a.metric, gate_with.quantities, gate_with.alpha, gate_with.tolerance_pct / 100)
        if verdict.passed and not verdict.tested:
            raise UserError("--fail-on worse tested nothing: each gated quantity needs at least 2 completed runs "
                            f"with it in each folder ({'; '.join(verdict.notes)})")
    if output == "json":
        print_json(result, root_a, root_b, verdict, console)
    elif output == "github":
        from bnbench.rendering.compare_doc import github_summary

        console.file.write(github_summary(result, a, b, verdict))
    else:
        print_table(result, a.metric, console)
    if verdict is None:
        return 0
    lines = [verdict.headline(), *(f"  - {f}" for f in verdict.failures),
             *(f"  note: {n}" for n in verdict.notes)]
    if output == "table":
        from bnbench.rendering.table import say

        for line in lines:
            say(console, line)
    else:  # stdout holds the document (a job summary, a JSON file): the job's log still says why
        sys.stderr.write("".join(f"bnbench: {line}\n" for line in lines))
    return 0 if verdict.passed else EXIT_GATE_FAILED


def print_json(result: FolderComparison, root_a: Path, root_b: Path, verdict: Gate | None,
               console: Console) -> None:
    from bnbench.rendering.format import to_jsonable

    data = {"a": str(root_a), "b": str(root_b), "only_a": result.only_a, "only_b": result.only_b,
            "variants": {v: {"sentence": c.sentence, "words": c.words,
                             "decisions": {k: vars(d) for k, d in c.verdicts.items()},
                             "differences": {k: vars(d) for k, d in c.differences.items()},
                             "ratios": {k: vars(r) for k, r in c.ratios.items()}}
                         for v, c in result.comparisons.items()}}
    if verdict is not None:
        data["gate"] = {"passed": verdict.passed, "headline": verdict.headline(), "failures": verdict.failures,
                        "notes": verdict.notes, "quantities": list(verdict.quantities), "alpha": verdict.alpha,
                        "tolerance": verdict.tolerance, "checks": [vars(c) for c in verdict.checks]}
    console.file.write(json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n")


def print_table(result: FolderComparison, metric: MetricInfo, console: Console) -> None:
    from rich.markup import escape

    from bnbench.analysis.summary import COMPARED
    from bnbench.analysis.verdict import p_text, verdict_cell
    from bnbench.rendering.document import FIGURE_LABELS, difference_cell, ratio_cell
    from bnbench.rendering.table import plain_table, say, show

    table = plain_table(f"{result.label_b} against {result.label_a} (B minus A; 95% Welch intervals)")
    for column in ("variant", "figure", "difference [95% CI]", "ratio [95% CI]", "Welch p", "n",
                   "verdict: the interval it used"):
        table.add_column(column)
    for variant, c in result.comparisons.items():
        for figure in COMPARED:
            d = c.differences[figure]
            decimals = metric.decimals if figure in ("final", "best") else 1
            name = FIGURE_LABELS[figure].format(metric=metric.label)
            cells = [variant, name, difference_cell(d, decimals), ratio_cell(c.ratios[figure]), p_text(d.p) or "-",
                     f"{d.n_b} vs {d.n_a}", verdict_cell(c.verdicts[figure], decimals)]
            table.add_row(*(escape(cell) for cell in cells))  # '[n/a: ...]' is text, not rich markup
    show(console, table)  # piped (a CI log), no row and no sentence is wrapped
    for c in result.comparisons.values():
        say(console, c.sentence)
    for label, only in ((result.label_a, result.only_a), (result.label_b, result.only_b)):
        if only:
            say(console, f"only in {label}: {', '.join(only)}")
