"""A results folder read back for analysis: frames, scenario, manifest, and what the metric means.

Everything a report shows comes from here, so `bnbench report DIR` needs nothing but the folder. A run that was
killed before its runs.csv row was written still has curve chunks; it appears as an 'interrupted' run.
The summary reads a `ResultsFolder` (summary.py); `bnbench.load` gives both at once (results.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.analysis.metric_info import MetricInfo
from bnbench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ResultsFolder:
    """One results folder. `runs`, `curves` are pandas DataFrames; `power` loads on first use (it can be large)."""

    root: Path
    runs: pd.DataFrame
    curves: pd.DataFrame
    scenario: dict[str, Any]
    manifest: dict[str, Any]
    metric: MetricInfo
    _power: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.scenario.get("scenario", {}).get("name", self.root.name))

    @property
    def baseline(self) -> str:
        """The variant the others are compared with: `[scenario] baseline`, default 'control'."""
        return str(self.scenario.get("scenario", {}).get("baseline", "control"))

    @property
    def target(self) -> float | None:
        """`[train] target` (the metric value for time- and energy-to-target), None when the scenario has none."""
        value = self.scenario.get("train", {}).get("target")
        return None if value is None else float(value)

    @property
    def stats(self) -> dict[str, Any]:
        """`[stats]` as resolved (empty for a folder written before it existed: alpha 0.05, no margins)."""
        return dict(self.scenario.get("stats", {}))

    @property
    def seed_range(self) -> dict[str, Any] | None:
        """`[scenario] seeds` when adaptive ({min, max, budget_kwh?, budget_s?}), else None."""
        seeds = self.scenario.get("scenario", {}).get("seeds")
        return dict(seeds) if isinstance(seeds, dict) else None

    @property
    def seeds(self) -> list[int]:
        """Seeds in round order: the scenario's list (0 .. max-1 when adaptive), then any others in the runs."""
        seeds = self.scenario.get("scenario", {}).get("seeds", [])
        declared = list(range(int(seeds["max"]))) if isinstance(seeds, dict) else [int(s) for s in seeds]
        found = sorted(int(s) for s in set(self.runs["seed"].dropna()) if int(s) not in set(declared))
        return declared + found

    @property
    def variants(self) -> list[str]:
        """Variant names in scenario order, then any others found in the runs."""
        declared = [str(v["name"]) for v in self.scenario.get("variant", []) if "name" in v]
        seen = [v for v in self.runs["variant"].drop_duplicates().tolist() if v not in declared]
        return [v for v in declared if v in set(self.runs["variant"])] + seen

    @property
    def power(self) -> pd.DataFrame:
        if self._power is None:
            self._power = load_power(self.root)
        return self._power


def load_power(root: Path) -> pd.DataFrame:
    """power.parquet plus the chunks of runs not yet folded into it, with `run_id`, `device` and `phase` as
    categories. Read here with pyarrow's dictionary decoding rather than through `results.load.load_table`: a
    night of 10 Hz samples is millions of rows sharing a handful of strings, and decoding them one string per row
    costs seconds and hundreds of MB."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bnbench.results.load import check_results_dir
    from bnbench.results.schema import POWER_COLUMNS
    from bnbench.results.store import check_columns, chunk_paths, damaged

    check_results_dir(root)
    strings = ["run_id", "device", "phase"]

    def read(path: Path) -> pa.Table:
        try:
            table = pq.read_table(path, read_dictionary=strings, use_threads=False)
        except (OSError, ValueError) as exc:  # a truncated file, or not Parquet (ArrowInvalid is a ValueError)
            raise damaged(path, exc) from None
        check_columns(path, "power", table.column_names)
        return table

    tables: list[pa.Table] = []
    done: set[str] = set()
    target = root / "power.parquet"
    if target.exists():
        table = read(target)
        done = {str(r) for r in table.column("run_id").unique().to_pylist()}
        tables.append(table)
    tables += [read(c) for c in chunk_paths(root, "power") if c.parent.name not in done]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in POWER_COLUMNS})
    table = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
    frame = table.to_pandas(use_threads=False)
    for column in strings:
        if column in frame and frame[column].dtype != "category":
            frame[column] = frame[column].astype("category")
    return frame


def metric_column(runs: pd.DataFrame) -> str:
    names = [c.removeprefix("final_") for c in runs.columns if c.startswith("final_")]
    if not names:
        raise UserError("runs.csv has no final_<metric> column; was it written by bnbench?")
    return names[0]


def add_unfinished_runs(runs: pd.DataFrame, curves: pd.DataFrame, metric: MetricInfo) -> pd.DataFrame:
    """Rows for runs that left curves but no runs.csv row (killed mid-run): status 'interrupted'."""
    import numpy as np
    import pandas as pd

    if curves.empty:
        return runs
    missing = curves[~curves["run_id"].isin(set(runs["run_id"]))]
    if missing.empty:
        return runs
    rows = []
    for run_id, group in missing.groupby("run_id", sort=False):
        evals = group[group["kind"] == "eval"].sort_values("step")
        values = evals[metric.name].dropna()
        best = (values.max() if metric.higher_is_better else values.min()) if len(values) else np.nan
        rows.append({
            "run_id": run_id, "variant": group["variant"].iloc[0], "seed": group["seed"].iloc[0],
            "status": "interrupted", "steps": int(group["step"].max()), "wall_s": float(group["t_s"].max()),
            f"final_{metric.name}": values.iloc[-1] if len(values) else np.nan, f"best_{metric.name}": best,
            "energy_source": "none",
        })
    return pd.concat([runs, pd.DataFrame(rows)], ignore_index=True)


def energy_source(sources: pd.Series) -> str:
    """One label for the sources of a set of runs: 'nvml-counter', 'estimate', 'none', or 'a + b' when mixed."""
    found = sorted(set(sources.dropna().astype(str)) - {"", "nan"}) or ["none"]
    measured = [s for s in found if s != "none"]
    return " + ".join(measured) if measured else "none"


def folder_energy_source(runs: pd.DataFrame) -> str:
    """The label of a folder's energy: its completed runs' sources (all its runs' when none completed)."""
    if "energy_source" not in runs:
        return "none"
    done = runs[runs["status"] == "completed"]
    return energy_source((done if len(done) else runs)["energy_source"])


def in_report_order(runs: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Rows of runs as every report lists them: by variant in the scenario's order, then by seed."""
    rank = runs["variant"].map({v: i for i, v in enumerate(variants)})
    ordered = runs.assign(_rank=rank).sort_values(["_rank", "seed"], kind="stable").drop(columns="_rank")
    return ordered.reset_index(drop=True)


def is_estimate(source: str) -> bool:
    return "estimate" in source
