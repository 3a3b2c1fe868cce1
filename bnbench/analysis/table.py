"""The end-of-run summary: one row per variant, computed from runs.csv alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from bnbench.results.load import load_runs


def metric_name(runs: pd.DataFrame) -> str:
    """The task's headline metric, from the `final_<metric>` column of runs.csv."""
    return next(c.removeprefix("final_") for c in runs.columns if c.startswith("final_"))


def mean_sd(values: pd.Series, fmt: str) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) == 1:
        return format(values.iloc[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def variant_table(runs: pd.DataFrame) -> Table:
    metric = metric_name(runs)
    references = [c for c in runs.columns if c.endswith(f"_{metric}") and not c.startswith(("final_", "best_"))]
    table = Table(title="per variant (mean ± sd over seeds)")
    for column in ("variant", "seeds", "status", f"final {metric}", f"best {metric}", "steps", "wall s"):
        table.add_column(column, justify="left" if column in ("variant", "seeds", "status") else "right")
    for variant, group in runs.groupby("variant", sort=False):
        statuses = ", ".join(f"{n} {s}" for s, n in group["status"].value_counts().items())
        table.add_row(
            str(variant),
            ",".join(str(s) for s in group["seed"]),
            statuses,
            mean_sd(group[f"final_{metric}"], ".2f"),
            mean_sd(group[f"best_{metric}"], ".2f"),
            mean_sd(group["steps"].astype(float), ".0f"),
            mean_sd(group["wall_s"], ".1f"),
        )
    for reference in references:
        values = runs[reference].dropna()
        if not values.empty:
            name = reference.removesuffix(f"_{metric}")
            table.caption = f"{name} baseline (no learning): {metric} {values.mean():.2f}"
    return table


def print_summary(root: Path, console: Console) -> None:
    runs = load_runs(root)
    if runs.empty:
        console.print("no run finished")
        return
    console.print(variant_table(runs))
