"""Reading a results folder back into DataFrames: the only way reports see results."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.results.store import chunk_paths

if TYPE_CHECKING:  # imported by the readers that need it: a pool worker reads only the manifest
    import pandas as pd


def check_results_dir(root: Path) -> None:
    if not (root / "runs.csv").is_file():
        raise UserError(f"{root}: not a bnbench results folder (no runs.csv)")


def load_runs(root: Path) -> pd.DataFrame:
    """runs.csv with one row per run: when a run was resumed, its last row."""
    import pandas as pd

    check_results_dir(root)
    runs = pd.read_csv(root / "runs.csv", dtype={"run_id": str, "variant": str, "error": str})
    return runs.drop_duplicates("run_id", keep="last").reset_index(drop=True)


def load_table(root: Path, table: str) -> pd.DataFrame:
    """`<table>.parquet` plus the chunks of runs not yet folded into it (a run that was cut short)."""
    import pandas as pd

    check_results_dir(root)
    parts: list[pd.DataFrame] = []
    done: set[str] = set()
    target = root / f"{table}.parquet"
    if target.exists():
        parts.append(pd.read_parquet(target))
        done = set(parts[0]["run_id"].unique())
    parts += [pd.read_parquet(c) for c in chunk_paths(root, table) if c.parent.name not in done]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def load_manifest(root: Path) -> dict[str, Any]:
    path = root / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def load_scenario_dict(root: Path) -> dict[str, Any]:
    path = root / "scenario.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
