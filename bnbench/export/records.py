"""What a results folder becomes in an experiment tracker: one parent run per session, one run per bnbench run.

Pure functions of a loaded folder (no tracker imported here): the parent holds the scenario's settings as
params, the session's totals as metrics and the verdicts as tags and a note; each run holds its settings (the
scenario's, then its variant's own keys) as params, every curve point as a metric at its step, its figures
(energy, kWh, tea, CO2, cost, busy %, to-target) as metrics, and its identity (energy source, GPU UUID,
status, the verdict on its variant) as tags. A figure that was not measured is left out, never logged as 0.

A session is known again by a key from its manifest (host, first start, scenario name), so a second export finds
the first; the fingerprint of what the folder holds says whether the first export is still up to date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from bnbench.analysis.results import Results

MAX_PARAM_CHARS = 6000  # MLflow's limit on a param's value
TAG_PREFIX = "bnbench."
SESSION_TAG, RUN_TAG, FINGERPRINT_TAG = "bnbench.session", "bnbench.run_id", "bnbench.fingerprint"
# runs.csv columns that are not figures of the run (identity, text) or are a tag instead.
NOT_METRICS = {"run_id", "variant", "seed", "device", "gpu_name", "gpu_uuid", "status", "energy_source",
               "started_at", "ended_at", "error"}
# Per-run figures computed by the analysis and not in runs.csv.
DERIVED = ("gap", "steps_to_target", "time_to_target_s", "energy_to_target_j", "loss_spikes")
# curves.parquet columns logged per point (the task's metric is added); eval rows' energy_j is the run's energy
# so far, logged as energy_so_far_j so that it never mixes with the run's total.
CURVE_METRICS = ("loss", "loss_max", "val_loss")
STATUS = {"completed": "FINISHED", "diverged": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
FILES = ("report.md", "report.html", "report.json", "scenario.toml", "manifest.json", "runs.csv")


@dataclass(frozen=True)
class Point:
    """One metric value: `timestamp_ms` since the epoch (the run's start plus its clock; 0-based without one)."""

    key: str
    value: float
    step: int
    timestamp_ms: int


@dataclass(frozen=True)
class RunRecord:
    name: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[Point]
    status: str  # FINISHED | FAILED | KILLED
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class SessionRecord:
    key: str
    fingerprint: str
    experiment: str
    parent: RunRecord
    runs: dict[str, RunRecord]  # by bnbench run_id
    artifacts: list[Path] = field(default_factory=list)  # files of the folder, relative to it


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """{'train': {'lr': 0.001}} -> {'train.lr': '0.001'}; lists as JSON; values cut to MLflow's limit."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, list | tuple):
        text = json.dumps(value)
    else:
        text = str(value)
    return {prefix: text[:MAX_PARAM_CHARS]}


def epoch_ms(iso: Any) -> int | None:
    """'2026-12-03T19:38:40+00:00' -> milliseconds since the epoch; None for a missing or unreadable time."""
    if not isinstance(iso, str) or not iso:
        return None
    try:
        return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None


def finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def session_key(results: Results) -> str:
    """The session, whatever folder holds it now: its host, first start and scenario name (resumes keep the
    first start); a folder without a recorded start is known by its path."""
    manifest = results.manifest
    started = manifest.get("started_at")
    identity = (f"{manifest.get('host')}|{started}|{results.name}" if started
                else str(results.root.resolve()))
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def fingerprint(results: Results) -> str:
    """A hash of everything an export holds: runs, curves and the scenario. Changes when a resumed session adds
    or finishes runs."""
    import pandas as pd

    digest = hashlib.sha256(json.dumps(results.scenario, sort_keys=True, default=str).encode())
    for frame in (results.runs, results.curves):
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def settings(scenario: dict[str, Any]) -> dict[str, str]:
    """The scenario's settings outside its variants, as params."""
    return flatten({k: v for k, v in scenario.items() if k != "variant"})


def variant_settings(scenario: dict[str, Any], variant: str) -> dict[str, str]:
    for entry in scenario.get("variant", []):
        if entry.get("name") == variant:
            return flatten({k: v for k, v in entry.items() if k != "name"}, "variant")
    return {}


def curve_points(curves: pd.DataFrame, metric: str, start_ms: int | None) -> list[Point]:
    """Every logged point of one run: loss per logged step, the metric and energy so far per evaluation."""
    base = start_ms or 0
    points = []
    columns = [c for c in (*CURVE_METRICS, metric, "energy_j") if c in curves.columns]
    for record in curves.sort_values(["step", "kind"]).to_dict("records"):
        timestamp = base + int(round((finite(record.get("t_s")) or 0.0) * 1000))
        for column in columns:
            value = finite(record.get(column))
            if value is not None:
                key = "energy_so_far_j" if column == "energy_j" else column
                points.append(Point(key, value, int(record["step"]), timestamp))
    return points


def run_record(results: Results, row: dict[str, Any], figures: dict[str, Any], session: str,
               verdict: str) -> RunRecord:
    """One bnbench run as a tracker's run."""
    run_id, variant = str(row["run_id"]), str(row["variant"])
    start_ms, end_ms = epoch_ms(row.get("started_at")), epoch_ms(row.get("ended_at"))
    step = int(finite(row.get("steps")) or 0)
    last = end_ms or (start_ms or 0) + int(round((finite(row.get("wall_s")) or 0.0) * 1000))
    summary = {k: row.get(k) for k in row if k not in NOT_METRICS} | {k: figures.get(k) for k in DERIVED}
    metrics = [Point(k, v, step, last) for k, value in summary.items() if (v := finite(value)) is not None]
    curves = results.curves[results.curves["run_id"] == run_id] if len(results.curves) else results.curves
    metrics += curve_points(curves, results.metric.name, start_ms)
    params = settings(results.scenario) | variant_settings(results.scenario, variant) | {"seed": str(row["seed"])}
    tags = {SESSION_TAG: session, RUN_TAG: run_id, "variant": variant, "seed": str(row["seed"]),
            "status": str(row.get("status")), "energy_source": str(row.get("energy_source") or "none"),
            "verdict": verdict}
    for column in ("device", "gpu_name", "gpu_uuid", "error"):
        text = row.get(column)
        if isinstance(text, str) and text:
            tags[column] = text
    return RunRecord(run_id, params, tags, metrics, STATUS.get(str(row.get("status")), "FAILED"), start_ms, end_ms)


def totals(runs: pd.DataFrame) -> dict[str, float]:
    """The session's sums over every run (those never measured left out) and its run counts."""
    import pandas as pd

    out: dict[str, float] = {"runs": float(len(runs))}
    out["completed_runs"] = float((runs["status"] == "completed").sum())
    for column in ("wall_s", "energy_j", "kwh", "net_kwh", "tea_cups", "co2_g", "cost"):
        if column in runs:
            values = pd.to_numeric(runs[column], errors="coerce").dropna()
            if len(values):
                out[f"total_{column}"] = float(values.sum())
    return out


def session_record(results: Results, experiment: str | None = None) -> SessionRecord:
    """The whole folder as one parent run and its children. `experiment`: default the scenario's name."""
    summary = results.summary
    key = session_key(results)
    words = {v: c.verdict for v, c in summary.comparisons.items()}
    words.setdefault(summary.baseline, "baseline")
    figures = {str(r["run_id"]): r for r in summary.figures.to_dict("records")}
    runs = {}
    for row in results.runs.to_dict("records"):
        run_id = str(row["run_id"])
        runs[run_id] = run_record(results, row, figures.get(run_id, {}), key, words.get(str(row["variant"]), ""))
    manifest = results.manifest
    started = epoch_ms(manifest.get("started_at"))
    ended = epoch_ms(manifest.get("ended_at"))
    tags = {SESSION_TAG: key, "energy_source": summary.energy_source, "folder": str(results.root.resolve()),
            "mlflow.note.content": "\n\n".join([f"bnbench session {results.root.name}", *summary.verdicts])}
    for name in ("bnbench", "host", "code_commit", "torch", "cuda"):
        if manifest.get(name) is not None:
            tags[f"{TAG_PREFIX}{name}" if name != "bnbench" else "bnbench.version"] = str(manifest[name])
    for variant, c in summary.comparisons.items():
        tags[f"verdict.{variant}"] = c.verdict
        tags[f"verdict_sentence.{variant}"] = c.sentence
    metrics = [Point(k, v, 0, ended or started or 0) for k, v in totals(results.runs).items()]
    parent = RunRecord(f"{results.name} {results.root.name}", settings(results.scenario), tags, metrics,
                       "FINISHED", started, ended)
    artifacts = [Path(f) for f in FILES if (results.root / f).is_file()]
    figures_dir = results.root / "figures"
    if figures_dir.is_dir():
        artifacts += sorted(p.relative_to(results.root) for p in figures_dir.iterdir() if p.is_file())
    return SessionRecord(key, fingerprint(results), experiment or results.name, parent, runs, artifacts)
