"""Reading a results folder back into DataFrames: the only way reports see results."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.results.store import chunk_paths, read_frame, read_runs_text

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
    try:
        runs = pd.read_csv(io.StringIO(text), dtype={"run_id": str, "variant": str, "error": str})
    except (ValueError, pd.errors.ParserError) as exc:
        problem = str(exc).strip().splitlines()[-1]
        raise UserError(f"{root / 'runs.csv'}: damaged ({problem}); restore it from a copy") from None
    return runs.drop_duplicates("run_id", keep="last").reset_index(drop=True)


def load_table(root: Path, table: str) -> pd.DataFrame:
    """`<table>.parquet` plus the chunks of runs not yet folded into it (a run that was cut short)."""
    import pandas as pd

    check_results_dir(root)
    parts: list[pd.DataFrame] = []
    done: set[str] = set()
    target = root / f"{table}.parquet"
    if target.exists():
        parts.append(read_frame(target))
        done = set(parts[0]["run_id"].unique())
    parts += [read_frame(c) for c in chunk_paths(root, table) if c.parent.name not in done]
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
