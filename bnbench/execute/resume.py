"""Resuming a results folder: which runs are finished, which continue from which checkpoint, and whether the
scenario is still the one the folder was started with.

Everything here is a pure function of what is on disk (runs.csv, scenario.toml, the checkpoint files), so any
executor (local, a device pool, Ray) can plan the same work from the same folder.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bnbench.checkpoint import CheckpointFile, latest_valid
from bnbench.errors import UserError
from bnbench.results.store import check_tables, read_runs_text, run_dir
from bnbench.scenario import RunSpec, Scenario

FINISHED = ("completed", "diverged")
# Keys that change how a run is saved, where or when it runs, not what it computes: they may differ on resume.
# The training loop (graph, compile) is not among them: it changes a run's seconds and joules, which are measured.
HARMLESS_KEYS = frozenset({"description", "device", "checkpoint_every", "checkpoint_every_s", "keep_checkpoints",
                           "order", "warmup_steps", "powercap", "echo", "grace_s", "runs_per_gpu"})
HARMLESS_SECTIONS = frozenset({"export", "slurm"})  # where results are sent and runs train, not what they measure

Action = Literal["skip", "start", "resume"]


@dataclass(frozen=True)
class RunPlan:
    """What to do with one run: `skip` (finished), `start` (from step 0) or `resume` (from `checkpoint`).

    `recorded` is the run's last runs.csv row (None if it never finished an attempt); `notes` are one line per
    damaged checkpoint file passed over.
    """

    spec: RunSpec
    action: Action
    checkpoint: CheckpointFile | None = None
    recorded: dict[str, str] | None = None
    notes: tuple[str, ...] = ()


def checkpoint_dir(root: Path, run_id: str) -> Path:
    return run_dir(root, run_id) / "checkpoints"


def recorded_rows(root: Path) -> dict[str, dict[str, str]]:
    """The last runs.csv row of each run_id ({} when there is no runs.csv)."""
    from bnbench.results.load import check_runs_cells

    path = root / "runs.csv"
    if not path.is_file():
        return {}
    text = read_runs_text(root)
    check_runs_cells(path, text)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return {row["run_id"]: row for row in reader if row.get("run_id")}


def plan_runs(root: Path, specs: list[RunSpec]) -> list[RunPlan]:
    """One plan per spec, in the order given. A run whose last row is completed or diverged is skipped; any other
    (interrupted, failed, killed before it wrote a row) continues from its newest intact checkpoint, or starts
    over when it has none."""
    rows = recorded_rows(root)
    plans = []
    for spec in specs:
        row = rows.get(spec.run_id)
        if row is not None and row.get("status") in FINISHED:
            plans.append(RunPlan(spec, "skip", recorded=row))
            continue
        found, notes = latest_valid(checkpoint_dir(root, spec.run_id))
        plans.append(RunPlan(spec, "resume" if found else "start", found, row, tuple(notes)))
    return plans


def finished_rows(plans: list[RunPlan]) -> list[tuple[RunSpec, dict[str, Any]]]:
    """(spec, recorded row) of every run the plans skip because the results folder holds it as finished."""
    return [(p.spec, dict(p.recorded)) for p in plans if p.action == "skip" and p.recorded is not None]


def _normalize(scenario: dict[str, Any]) -> dict[str, Any]:
    """A resolved scenario as it reads back from scenario.toml (TOML types: tuples become lists)."""
    import tomli_w

    return tomllib.loads(tomli_w.dumps(scenario))


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _table_changes(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, 'where.key old -> new') per key whose value differs between two tables."""
    changes = []
    for key in sorted(set(old) | set(new)):
        if key == "name" and where.startswith("variant"):
            continue
        missing = "(default)"
        before = _describe(old[key]) if key in old else missing
        after = _describe(new[key]) if key in new else missing
        if old.get(key, missing) != new.get(key, missing):
            changes.append((key, f"{where}{key} {before} -> {after}"))
    return changes


def scenario_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changes that alter results, harmless changes) between two resolved scenarios, one phrase each, such as
    "train.lr 0.001 -> 0.01" or "variant 'bn' added"."""
    old, new = _normalize(old), _normalize(new)
    found: list[tuple[str, str]] = []
    harmless_sections: list[tuple[str, str]] = []
    for section in sorted((set(old) | set(new)) - {"variant"}):
        changed = _table_changes(f"{section}.", old.get(section, {}), new.get(section, {}))
        (harmless_sections if section in HARMLESS_SECTIONS else found).extend(changed)
    before = {v["name"]: v for v in old.get("variant", [])}
    after = {v["name"]: v for v in new.get("variant", [])}
    for name in before.keys() - after.keys():
        found.append(("", f"variant '{name}' removed"))
    for name in after.keys() - before.keys():
        found.append(("", f"variant '{name}' added"))
    for name in sorted(before.keys() & after.keys()):
        found += _table_changes(f"variant '{name}' ", before[name], after[name])
    real = [text for key, text in found if key not in HARMLESS_KEYS]
    harmless = [text for key, text in found if key in HARMLESS_KEYS] + [text for _, text in harmless_sections]
    return real, harmless


def check_resumable(root: Path, scenario: Scenario, force: bool) -> list[str]:
    """Every difference between `scenario` and the one `root` was started with. UserError naming the ones
    that alter results, unless `force`."""
    from bnbench.results.load import load_manifest, load_runs, load_scenario_dict

    if not (root / "runs.csv").is_file() or not (root / "scenario.toml").is_file():
        raise UserError(f"{root}: not a bnbench results folder (no runs.csv or scenario.toml); nothing to resume")
    stored = load_scenario_dict(root)
    load_runs(root)  # a damaged runs.csv (cells included), manifest or Parquet file is one line now, not a crash later
    manifest = load_manifest(root)
    check_tables(root)
    new = scenario.to_dict()
    real, harmless = scenario_changes(eager_by_default(stored, manifest, new), new)
    if real and not force:
        shown = "; ".join(real[:6]) + (f"; and {len(real) - 6} more" if len(real) > 6 else "")
        raise UserError(
            f"{root}: the scenario changed since these results were written: {shown}. "
            f"Resume with the same scenario and --set options, pass --force to continue anyway, or use another --out"
        )
    return real + harmless


def _unset_recorded(manifest: dict[str, Any]) -> bool:
    """Whether a folder's manifest records a variant with graph unset: it was begun since unset meant the
    device's choice (graphed on a GPU). A folder begun before recorded false for every variant left unset."""
    modes = manifest.get("math_mode", {})
    return isinstance(modes, dict) and any(
        isinstance(mode, dict) and "graph" in mode and mode["graph"] is None for mode in modes.values())


def keep_the_folders_loop(manifest: dict[str, Any], scenario: Scenario, specs: list[RunSpec]
                          ) -> tuple[Scenario, list[RunSpec], bool]:
    """The scenario and runs a resumed folder trains on, with the loop its first runs had: a folder begun while
    the eager loop was the default for every device (its manifest records no unset graph) trained eager where
    graph was unset, so its remaining runs do too, and its runs stay of one loop. The flag: whether any variant
    was so set."""
    if _unset_recorded(manifest) or not manifest.get("math_mode"):
        return scenario, specs, False
    if all(v.train.graph is not None for v in scenario.variants):
        return scenario, specs, False

    def eager(train: Any) -> Any:
        return train.model_copy(update={"graph": False}) if train.graph is None else train

    variants = tuple(dataclasses.replace(v, train=eager(v.train)) for v in scenario.variants)
    scenario = dataclasses.replace(scenario, train=eager(scenario.train), variants=variants)
    return scenario, [dataclasses.replace(spec, train=eager(spec.train)) for spec in specs], True


def eager_by_default(stored: dict[str, Any], manifest: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`stored` (a folder's scenario.toml) as it compares with `new`: a folder begun while graph = false was the
    default left it out of scenario.toml, as graph unset is left out now, so it resumes with either. Such a folder
    records no unset graph in its manifest's math_mode (a variant's graph null); one begun since that records it
    meant unset, and resumes with unset alone."""
    train = stored.get("train", {})
    if "graph" in train or _unset_recorded(manifest) or new.get("train", {}).get("graph") is not False:
        return stored
    return {**stored, "train": {**train, "graph": False}}


@dataclass(frozen=True)
class Unfinished:
    """A results folder of the same scenario and settings that holds runs still to do."""

    root: Path
    finished: int
    total: int


def unfinished_sessions(parent: Path, scenario: Scenario, specs: list[RunSpec]) -> list[Unfinished]:
    """Folders directly under `parent` (where sessions of this scenario are written) that were started with the
    same settings (the manifest's scenario fingerprint) and still lack some runs: an interrupted session that
    `--resume` would continue. The one with the most finished runs first, then the newest (names are times)."""
    import json

    found = []
    fingerprint = scenario.fingerprint()
    for root in sorted((p for p in parent.glob("*") if p.is_dir()), reverse=True) if parent.is_dir() else []:
        try:
            manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or manifest.get("scenario_fingerprint") != fingerprint:
            continue
        rows = recorded_rows(root)
        finished = sum(rows.get(s.run_id, {}).get("status") in FINISHED for s in specs)
        if finished < len(specs):
            found.append(Unfinished(root, finished, len(specs)))
    return sorted(found, key=lambda u: u.finished, reverse=True)
