"""`bnbench export DIR --mlflow URI`: a results folder into an MLflow tracking store, once per session."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bnbench.errors import UserError

if TYPE_CHECKING:
    from bnbench.scenario import Scenario


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


def check_export(scenario: Scenario) -> None:
    """UserError before any run trains when the scenario's `[export]` cannot be done here (MLflow missing)."""
    if scenario.export.mlflow is not None and importlib.util.find_spec("mlflow") is None:
        raise UserError(f"{scenario.source}: [export] mlflow needs MLflow's client: pip install 'bnbench[mlflow]' "
                        "(or remove the key and export later with bnbench export)")


def export_after_run(scenario: Scenario, out: Path, say: Callable[[str], None]) -> bool:
    """The `[export]` of a session that ended: the folder at `out` to each target the scenario names. A failure
    is one line that says how to export later (the results folder is complete either way). False if it failed."""
    uri = scenario.export.mlflow
    if uri is None:
        return True
    try:
        export_folder(out, uri, scenario.export.experiment, say)
    except UserError as exc:
        say(f"export to MLflow failed: {exc}; the results are intact: bnbench export {out} --mlflow {uri}")
        return False
    except Exception as exc:  # a server that went away, a full disk: the runs are done and saved all the same
        text = " ".join(str(exc).split()) or type(exc).__name__
        say(f"export to MLflow failed: {text[:300]}; the results are intact: bnbench export {out} --mlflow {uri}")
        return False
    return True
