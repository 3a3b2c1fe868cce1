"""What `bnbench.load(DIR)` returns: a results folder read back (folder.py) with its summary (summary.py).

The summary reads the folder, never the other way round; `Results` joins the two, so that a notebook's
`bnbench.load(DIR).summary` is the summary the reports show.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from bnbench.analysis.folder import ResultsFolder, add_unfinished_runs, metric_column
from bnbench.analysis.metric_info import resolve
from bnbench.errors import UserError

if TYPE_CHECKING:  # imported when the summary is first asked for: it brings scipy, which reading a folder needs not
    from bnbench.analysis.summary import Summary


class Results(ResultsFolder):
    """One results folder (see `ResultsFolder`) and its summary, computed when first asked for."""

    @functools.cached_property
    def summary(self) -> Summary:
        from bnbench.analysis.summary import summarize

        return summarize(self)


def load(root: Path | str, higher_is_better: bool | None = None) -> Results:
    """Read a results folder. `higher_is_better` when the caller knows the metric's direction.

    Raises UserError for a folder that is not a bnbench results folder.
    """
    from bnbench.results.load import load_manifest, load_runs, load_scenario_dict, load_table

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such results folder")
    runs = load_runs(root)
    metric = metric_column(runs)
    curves = load_table(root, "curves")
    scenario = load_scenario_dict(root)
    if higher_is_better is None:  # a command's scenario states its metric's direction
        higher_is_better = scenario.get("task", {}).get("higher_is_better")
    info = resolve(metric, scenario.get("task", {}).get("name"), higher_is_better)
    runs = add_unfinished_runs(runs, curves, info)
    return Results(root, runs, curves, scenario, load_manifest(root), info)
