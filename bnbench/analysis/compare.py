"""Two results folders side by side: each variant they share, B against A (two GPUs, two versions of the code).

The statistics are those of a variant against its baseline within one folder (summary.compare), with folder A's
runs of the variant as the reference instead of the baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bnbench.analysis.results import Results
from bnbench.analysis.summary import Comparison, compare
from bnbench.errors import UserError


@dataclass(frozen=True)
class FolderComparison:
    label_a: str
    label_b: str
    comparisons: dict[str, Comparison]  # per shared variant: B's runs against A's
    only_a: list[str]
    only_b: list[str]


def folder_label(results: Results, other: Results) -> str:
    """A short name for a folder: its own name, with its parent when both folders share the name."""
    root, twin = results.root.resolve(), other.root.resolve()
    if root.name != twin.name:
        return root.name
    return f"{root.parent.name}/{root.name}"


def compare_folders(a: Results, b: Results) -> FolderComparison:
    """Compare every variant present in both folders. UserError when the folders measure different metrics."""
    if a.metric.name != b.metric.name:
        raise UserError(f"cannot compare: {a.root} measures {a.metric.name}, {b.root} measures {b.metric.name}")
    label_a, label_b = folder_label(a, b), folder_label(b, a)
    if label_a == label_b:
        label_a, label_b = f"A:{label_a}", f"B:{label_b}"
    shared = [v for v in a.variants if v in set(b.variants)]
    if not shared:
        raise UserError(f"cannot compare: no variant in both folders ({', '.join(a.variants)} vs "
                        f"{', '.join(b.variants)})")
    fa, fb = a.summary.figures, b.summary.figures
    comparisons = {}
    for variant in shared:
        # Rename A's runs of the variant to the reference name, so the in-folder comparison applies unchanged.
        both = pd.concat([fa[fa["variant"] == variant].assign(variant=label_a),
                          fb[fb["variant"] == variant].assign(variant=label_b)], ignore_index=True)
        c = compare(both, label_b, label_a, a.metric, a.target is not None and a.target == b.target)
        comparisons[variant] = Comparison(variant, label_a, c.differences, c.ratios, c.verdicts,
                                          f"{variant} in " + c.sentence, c.pairs)
    return FolderComparison(label_a, label_b, comparisons, [v for v in a.variants if v not in set(b.variants)],
                            [v for v in b.variants if v not in set(a.variants)])
