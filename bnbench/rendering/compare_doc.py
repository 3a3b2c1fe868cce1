"""Two results folders compared, as Markdown for a CI job's summary page (`bnbench compare A B --format github`).

The same numbers as the terminal table, plus each side's mean, and the gate's answer first when there is one.
"""

from __future__ import annotations

import math

from bnbench.analysis.compare import FolderComparison
from bnbench.analysis.folder import is_estimate
from bnbench.analysis.gate import Gate
from bnbench.analysis.results import Results
from bnbench.analysis.summary import COMPARED, ENERGY_FIGURES, figure_values
from bnbench.analysis.verdict import p_text
from bnbench.rendering.document import (
    FIGURE_LABELS,
    Block,
    Bullets,
    Paragraph,
    TableBlock,
    difference_cell,
    ratio_cell,
)
from bnbench.rendering.report import md_text, to_markdown

HEADERS = ["variant", "figure", "A mean", "B mean", "B - A [95% CI]", "B / A [95% CI]", "Welch p", "n (B vs A)",
           "verdict"]


def mean_cell(values: list[float], decimals: int) -> str:
    finite = [v for v in values if math.isfinite(v)]
    return f"{sum(finite) / len(finite):.{decimals}f}" if finite else "n/a"


def rows(result: FolderComparison, a: Results, b: Results) -> list[list[str]]:
    """One row per shared variant and compared figure, as the terminal table has them."""
    metric = a.metric
    estimate = is_estimate(a.summary.energy_source) or is_estimate(b.summary.energy_source)
    out = []
    for variant, c in result.comparisons.items():
        for figure in COMPARED:
            d = c.differences[figure]
            decimals = metric.decimals if figure in ("final", "best") else 1
            label = FIGURE_LABELS[figure].format(metric=metric.label)
            if figure in ENERGY_FIGURES and estimate:
                label += " (estimate)"
            means = [mean_cell(figure_values(s.summary.figures, variant, figure).tolist(), decimals) for s in (a, b)]
            out.append([variant, label, *means, difference_cell(d, decimals), ratio_cell(c.ratios[figure]),
                        p_text(d.p) or "-", f"{d.n_b} vs {d.n_a}", c.words[figure]])
    return out


def gate_blocks(gate: Gate) -> list[Block]:
    mark = "✅" if gate.passed else "❌"
    blocks: list[Block] = [Paragraph(f"{mark} **{md_text(gate.headline())}**")]
    if gate.failures:
        blocks.append(Bullets([md_text(f) for f in gate.failures]))
    if gate.notes:
        blocks.append(Bullets([md_text(f"note: {n}") for n in gate.notes]))
    return blocks


def github_summary(result: FolderComparison, a: Results, b: Results, gate: Gate | None) -> str:
    """The comparison as GitHub-flavoured Markdown: the gate's answer, the table, the verdict sentences."""
    blocks: list[Block] = gate_blocks(gate) if gate is not None else []
    blocks.append(Paragraph(f"B = {result.label_b} ({b.root}) against A = {result.label_a} ({a.root}); "
                            "differences are B minus A with 95% Welch intervals, ratios B / A.", verbatim=True))
    blocks.append(TableBlock(HEADERS, rows(result, a, b)))
    blocks.append(Bullets([md_text(c.sentence) for c in result.comparisons.values()]))
    only = [f"only in {label}: {', '.join(names)}" for label, names in
            ((result.label_a, result.only_a), (result.label_b, result.only_b)) if names]
    if only:
        blocks.append(Paragraph("; ".join(only), verbatim=True))
    title = f"bnbench compare: {md_text(result.label_b)} against {md_text(result.label_a)}"
    return to_markdown(title, blocks)
