"""Reading a results folder back into DataFrames: the only way reports see results."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.results.store import check_columns, chunk_paths, read_frame, read_runs_text

if TYPE_CHECKING:  # imported by the readers that need it: a pool worker reads only the manifest
    import pandas as pd


def check_results_dir(root: Path) -> None:
    if not (root / "runs.csv").is_file():
        raise UserError(f"{root}: not a bnbench results folder (no runs.csv)")


def load_runs(root: Path) -> pd.DataFrame:
    """runs.csv with one row per run: when a run was resumed, its last row. A cut-short last row is left out
    (with a warning); UserError when the file is damaged."""
    import pandas as pd

    check_results_dir(root)
    text = read_runs_text(root)
    path = root / "runs.csv"
    check_runs_cells(path, text)
    try:
        runs = pd.read_csv(io.StringIO(text), dtype={"run_id": str, "variant": str, "error": str}, index_col=False)
    except (ValueError, pd.errors.ParserError) as exc:
        problem = str(exc).strip().splitlines()[-1]
        raise UserError(f"{path}: damaged ({problem}); restore it from a copy") from None
    for column in [c for c in runs.columns if c in NUMERIC_RUN_COLUMNS or c.startswith(("final_", "best_"))]:
        values = pd.to_numeric(runs[column], errors="coerce")
        bad = runs[column].notna() & values.isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise UserError(f"{path}: damaged (run '{runs['run_id'].iloc[row]}', column '{column}': "
                            f"{str(runs[column].iloc[row])[:40]!r} is not a number); restore it from a copy")
        runs[column] = values
    return runs.drop_duplicates("run_id", keep="last").reset_index(drop=True)


# runs.csv's columns that hold numbers, besides the metric's final_* and best_*: a cell there that is not one is a
# damaged file, not a figure.
NUMERIC_RUN_COLUMNS = frozenset({
    "seed", "steps", "wall_s", "train_s", "cpu_s", "energy_j", "kwh", "net_kwh", "tea_cups", "co2_g", "cost",
    "energy_warmup_j", "energy_train_j", "energy_eval_j", "energy_checkpoint_j", "energy_host_j", "idle_w",
    "energy_integral_j", "energy_discrepancy", "gpu_busy_pct", "gpu_mem_peak_mib",
})
# The columns every runs.csv has had: without them no run can be told apart, counted or resumed.
REQUIRED_RUN_COLUMNS = ("run_id", "variant", "seed", "status")


def check_runs_cells(path: Path, text: str) -> None:
    """UserError when runs.csv's header lacks a required column or a row has more cells than the header names
    (the cells could be matched to no column)."""
    import csv

    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, [])
    missing = [c for c in REQUIRED_RUN_COLUMNS if c not in header]
    if missing:
        raise UserError(f"{path}: damaged (no {', '.join(repr(c) for c in missing)} column in its header); "
                        "restore it from a copy")
    for number, row in enumerate(rows, start=2):
        if len(row) > len(header):
            raise UserError(f"{path}: damaged (line {number} has {len(row)} cells, the header names "
                            f"{len(header)}); restore it from a copy")


def load_table(root: Path, table: str) -> pd.DataFrame:
    """`<table>.parquet` plus the chunks of runs not yet folded into it (a run that was cut short)."""
    import pandas as pd

    check_results_dir(root)
    parts: list[pd.DataFrame] = []
    done: set[str] = set()
    target = root / f"{table}.parquet"
    if target.exists():
        parts.append(read_frame(target))
        check_columns(target, table, parts[0].columns)
        done = set(parts[0]["run_id"].unique())
    for chunk in chunk_paths(root, table):
        if chunk.parent.name not in done:
            parts.append(read_frame(chunk))
            check_columns(chunk, table, parts[-1].columns)
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def load_manifest(root: Path) -> dict[str, Any]:
    """manifest.json ({} when there is none); UserError when it is damaged. It holds only stamps (machine,
    software, times), so moving a damaged one away loses nothing a report or a resume needs."""
    path = root / "manifest.json"
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
        problem = "" if isinstance(manifest, dict) else f"a JSON {type(manifest).__name__}, not an object"
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        problem = str(exc)
    problem = problem or _manifest_problem(manifest)
    if problem:
        raise UserError(f"{path}: damaged ({problem}); move it away: a resume writes a new one, a report goes "
                        "without the machine stamps")
    return manifest


def load_scenario_dict(root: Path) -> dict[str, Any]:
    """scenario.toml as stored ({} when there is none); UserError when it is damaged."""
    path = root / "scenario.toml"
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:  # TOMLDecodeError and UnicodeDecodeError
        raise UserError(f"{path}: damaged ({exc}); copy the scenario file these results were run with over it "
                        "(with its --set options applied)") from None


# The manifest's fields that readers use as more than text, and the JSON types they must have (null: unknown).
_MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "command": (list,), "devices": (list,), "gpus": (list,), "resumes": (list,), "cpu_count": (int,),
    "code_commit": (str,), "code_dirty": (bool,), "started_at": (str,), "ended_at": (str,),
    "scenario_fingerprint": (str,), "run_order": (dict,), "math_mode": (dict,), "idle_w": (dict,),
    "idle_sources": (dict,), "idle_s": (int, float), "idle_nodes": (dict,),
}
_JSON_NAMES = {list: "a list", dict: "an object", str: "a string", int: "a number", float: "a number",
               bool: "true or false"}


def _manifest_problem(manifest: dict[str, Any]) -> str:
    """What is wrong with the fields of a manifest that parsed ('' when nothing): the first of a wrong type."""
    for key, kinds in _MANIFEST_TYPES.items():
        value = manifest.get(key)
        if value is None:
            continue
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"'{key}' is {json.dumps(value)[:40]}, not {_JSON_NAMES[kinds[0]]}"
    if any(not isinstance(entry, dict) for entry in manifest.get("resumes") or []):
        return "'resumes' holds an entry that is not an object"
    watts = (manifest.get("idle_w") or {}).values()
    if any(w is not None and (isinstance(w, bool) or not isinstance(w, int | float)) for w in watts):
        return "'idle_w' holds a value that is not a number of watts"
    return ""
