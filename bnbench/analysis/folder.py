"""A results folder read back for analysis: frames, scenario, manifest, and what the metric means.

Everything a report shows comes from here, so `bnbench report DIR` needs nothing but the folder. A run that was
killed before its runs.csv row was written still has curve chunks; it appears as an 'interrupted' run.
The summary reads a `ResultsFolder` (summary.py); `bnbench.load` gives both at once (results.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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
        return variant_order(declared_variants(self.scenario), self.runs["variant"].tolist())

    @property
    def power(self) -> pd.DataFrame:
        if self._power is None:
            self._power = load_power(self.root)
        return self._power


def load_power(root: Path) -> pd.DataFrame:
    """power.parquet plus the chunks of runs not yet folded into it, with `run_id`, `device` and `phase` as
    categories. Read here with pyarrow's dictionary decoding rather than through `results.load.load_table`: a
    night of 10 Hz samples is millions of rows sharing a handful of strings, and decoding them one string per row
    costs seconds and hundreds of MB. The power figure reads the same samples without pandas
    (`power_samples.read_power_samples`)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bnbench.analysis.power_samples import unfolded_chunks
    from bnbench.results.load import check_results_dir
    from bnbench.results.schema import POWER_COLUMNS
    from bnbench.results.store import check_columns, damaged

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
    tables += [read(c) for c in unfolded_chunks(root, done)]
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


def declared_variants(scenario: dict[str, Any]) -> list[str]:
    """The variant names a scenario declares, in its order."""
    return [str(v["name"]) for v in scenario.get("variant", []) if isinstance(v, dict) and "name" in v]


def variant_order(declared: list[str], found: list[str]) -> list[str]:
    """Variant names in the scenario's order (`declared`, those with runs), then any others `found` in the runs,
    in their order of first appearance."""
    present, known = set(found), set(declared)
    return [v for v in declared if v in present] + [v for v in dict.fromkeys(found) if v not in known]


def _known(value: object) -> bool:
    return value is not None and value == value and str(value) not in ("", "nan")  # NaN != NaN


def energy_source(sources: Iterable[object]) -> str:
    """One label for the sources of a set of runs: 'nvml-counter', 'estimate', 'none', or 'a + b' when mixed."""
    found = sorted({str(s) for s in sources if _known(s)}) or ["none"]
    measured = [s for s in found if s != "none"]
    return " + ".join(measured) if measured else "none"


def completed_energy_source(statuses: list[object], sources: list[object]) -> str:
    """The label of a folder's energy: its completed runs' sources (all its runs' when none completed)."""
    done = [source for status, source in zip(statuses, sources, strict=True) if status == "completed"]
    return energy_source(done if done else sources)


def folder_energy_source(runs: pd.DataFrame) -> str:
    """The label of a folder's energy (`completed_energy_source`); 'none' for runs without the column."""
    if "energy_source" not in runs:
        return "none"
    return completed_energy_source(runs["status"].tolist(), runs["energy_source"].tolist())


def report_positions(variants_of_runs: list[object], seeds: list[object], variants: list[str]) -> list[int]:
    """The positions of runs in the order every report lists them: by variant in `variants`' order, then by seed
    (a variant or seed that is not there, last)."""
    rank = {v: i for i, v in enumerate(variants)}

    def key(i: int) -> tuple[float, float]:
        try:
            seed = float(seeds[i])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seed = math.inf
        return float(rank.get(str(variants_of_runs[i]), math.inf)), seed if seed == seed else math.inf

    return sorted(range(len(seeds)), key=key)


def in_report_order(runs: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Rows of runs as every report lists them: by variant in the scenario's order, then by seed."""
    positions = report_positions(runs["variant"].tolist(), runs["seed"].tolist(), variants)
    return runs.iloc[positions].reset_index(drop=True)


def power_figure_inputs(root: Path) -> tuple[list[str], str]:
    """The run order and energy source the power figure of `root` is drawn with, read from runs.csv and
    scenario.toml alone, without pandas: so that the report can begin drawing it before pandas is imported.
    They are the summary's (`in_report_order`, `folder_energy_source`) except in a folder with interrupted runs,
    whose rows come from their curves: the report then checks them against the summary's and draws again.

    Raises UserError when runs.csv is missing or damaged."""
    import csv
    import io

    from bnbench.results.load import check_results_dir, load_scenario_dict
    from bnbench.results.store import read_runs_text

    check_results_dir(root)
    rows = list(csv.DictReader(io.StringIO(read_runs_text(root), newline="")))
    last = {row.get("run_id"): i for i, row in enumerate(rows)}
    runs = [row for i, row in enumerate(rows) if row.get("run_id") and last[row.get("run_id")] == i]  # a resumed
    # run's last row, as load_runs keeps it
    variants = variant_order(declared_variants(load_scenario_dict(root)), [str(r.get("variant")) for r in runs])
    ordered = [runs[i] for i in report_positions([r.get("variant") for r in runs], [r.get("seed") for r in runs],
                                                 variants)]
    source = completed_energy_source([r.get("status") for r in ordered], [r.get("energy_source") for r in ordered])
    return [str(r["run_id"]) for r in ordered], source


def is_estimate(source: str) -> bool:
    return "estimate" in source
