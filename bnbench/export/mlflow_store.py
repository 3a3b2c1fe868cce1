"""Writing a session's records (records.py) into an MLflow tracking store, once.

A second export of the same session finds the first by its session tag. Unchanged (the same fingerprint, every
run there), it writes nothing; changed (a resumed session finished more runs), the earlier runs are deleted, as
MLflow deletes (they leave the experiment's views), and the session is written again: never two copies. The
parent's fingerprint tag is written last, so an export cut short is replaced by the next one.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnbench.errors import UserError
from bnbench.export.records import FINGERPRINT_TAG, RUN_TAG, SESSION_TAG, RunRecord, SessionRecord

# log_batch takes at most 1000 metrics, 100 params and 100 tags a call.
METRICS_PER_CALL, PARAMS_PER_CALL = 1000, 100
MAX_TAG_CHARS = 8000
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # stores that MLflow opens through SQLAlchemy
_BAD_KEY = re.compile(r"[^\w\-. :/]")


@dataclass(frozen=True)
class Outcome:
    experiment_id: str
    parent_run_id: str
    runs: int
    written: bool  # False: the store already held this session as it is
    replaced: int  # earlier runs of the session deleted before writing it again


def key(name: str) -> str:
    """A name MLflow accepts as a metric, param or tag key (letters, digits, _ - . space : /)."""
    return _BAD_KEY.sub("_", name)


def one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", exc)).split())


def client_for(uri: str) -> Any:
    """An MlflowClient for `uri`. UserError when MLflow is not installed, or cannot open the store (a file store
    that MLflow 3 refuses without MLFLOW_ALLOW_FILE_STORE=true; a database without the full `mlflow` package)."""
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("--mlflow needs MLflow's client: pip install 'bnbench[mlflow]'") from None
    scheme = uri.split(":", 1)[0].split("+", 1)[0]
    if scheme in DATABASES and importlib.util.find_spec("sqlalchemy") is None:
        raise UserError(f"MLflow cannot open {uri}: a database store needs the full package (pip install mlflow); "
                        "'bnbench[mlflow]' installs the client only")
    try:
        return MlflowClient(tracking_uri=uri)
    except ImportError as exc:
        raise UserError(f"MLflow cannot open {uri}: {one_line(exc)} (a database store needs the full package: "
                        "pip install mlflow)") from None
    except MlflowException as exc:
        raise UserError(f"MLflow at {uri}: {one_line(exc)}") from None


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def session_runs(client: Any, experiment_id: str, session: str) -> list[Any]:
    """Every active run of the session in the experiment, all pages."""
    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{SESSION_TAG}` = '{session}'",
                                  max_results=1000, page_token=token)
        found += list(page)
        token = page.token
        if not token:
            return found


def write_run(client: Any, experiment_id: str, record: RunRecord, extra_tags: dict[str, str]) -> str:
    from mlflow.entities import Metric, Param

    tags = {key(k): v[:MAX_TAG_CHARS] for k, v in (record.tags | extra_tags).items()}
    run = client.create_run(experiment_id, start_time=record.start_ms, tags=tags, run_name=record.name)
    run_id = run.info.run_id
    for part in chunks([Param(key(k), v) for k, v in record.params.items()], PARAMS_PER_CALL):
        client.log_batch(run_id, params=part)
    metrics = [Metric(key(p.key), p.value, p.timestamp_ms, p.step) for p in record.metrics]
    for part in chunks(metrics, METRICS_PER_CALL):
        client.log_batch(run_id, metrics=part)
    return run_id


def export_session(client: Any, record: SessionRecord, root: Path, uri: str) -> Outcome:
    """Write `record` (a results folder at `root`) with `client` (client_for(uri)), unless it is there already."""
    from mlflow.exceptions import MlflowException

    try:
        return _export(client, record, root)
    except MlflowException as exc:
        raise UserError(f"MLflow at {uri}: {one_line(exc)}") from None


def _export(client: Any, record: SessionRecord, root: Path) -> Outcome:
    experiment = client.get_experiment_by_name(record.experiment)
    if experiment is None:
        experiment_id = client.create_experiment(record.experiment)
    else:
        experiment_id = experiment.experiment_id
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment_id)
    earlier = session_runs(client, experiment_id, record.key)
    parents = [r for r in earlier if RUN_TAG not in r.data.tags]
    children = {r.data.tags[RUN_TAG] for r in earlier if RUN_TAG in r.data.tags}
    if (len(parents) == 1 and parents[0].data.tags.get(FINGERPRINT_TAG) == record.fingerprint
            and children == set(record.runs) and len(earlier) == len(record.runs) + 1):
        return Outcome(experiment_id, parents[0].info.run_id, len(record.runs), False, 0)
    for run in earlier:
        client.delete_run(run.info.run_id)
    parent_id = write_run(client, experiment_id, record.parent, {})
    for path in record.artifacts:
        client.log_artifact(parent_id, str(root / path), "bnbench" if path.parent == Path(".") else
                            f"bnbench/{path.parent.as_posix()}")
    for child in record.runs.values():
        child_id = write_run(client, experiment_id, child, {"mlflow.parentRunId": parent_id})
        client.set_terminated(child_id, child.status, child.end_ms)
    client.set_terminated(parent_id, record.parent.status, record.parent.end_ms)
    client.set_tag(parent_id, FINGERPRINT_TAG, record.fingerprint)
    return Outcome(experiment_id, parent_id, len(record.runs), True, len(earlier))
