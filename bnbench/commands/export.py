"""`bnbench export DIR --mlflow URI`: a results folder into an MLflow tracking store, once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bnbench.errors import UserError


def export_folder(root: Path, mlflow_uri: str | None, experiment: str | None, echo: Callable[[str], None]) -> None:
    """Export the folder at `root` to each target given; say what was written."""
    if mlflow_uri is None:
        raise UserError("bnbench export needs a target: --mlflow URI (e.g. http://host:5000, or a folder)")
    from bnbench.analysis.results import load
    from bnbench.export.mlflow_store import client_for, export_session
    from bnbench.export.records import session_record

    results = load(root)
    client = client_for(mlflow_uri)
    record = session_record(results, experiment)
    outcome = export_session(client, record, root, mlflow_uri)
    where = f"MLflow experiment '{record.experiment}' at {mlflow_uri} (parent run {outcome.parent_run_id})"
    if not outcome.written:
        echo(f"already exported, unchanged: {outcome.runs} runs of {root} in {where}")
        return
    replaced = f", replacing the {outcome.replaced} runs of an earlier export" if outcome.replaced else ""
    echo(f"exported {outcome.runs} runs of {root} to {where}{replaced}")
