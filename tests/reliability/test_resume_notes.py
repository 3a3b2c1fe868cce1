"""What a second `bnbench run` says and leaves: an interrupted session pointed out, a finished folder left as it
was, and a forced change recorded with the runs it applied to."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, ["run", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def drop_rows(folder, *run_ids: str) -> None:
    """runs.csv without these runs' rows: what a session killed before they finished leaves."""
    runs = pd.read_csv(folder / "runs.csv")
    runs[~runs["run_id"].isin(run_ids)].to_csv(folder / "runs.csv", index=False)


def test_a_new_session_names_the_interrupted_one_and_how_to_resume_it(tiny_scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    earlier = Path("reports") / "tiny" / "20260101-000000"
    run(str(tiny_scenario), "--out", str(earlier))
    drop_rows(earlier, "bn-s0", "bn-s1")
    output = run(str(tiny_scenario))  # the same command again, without --out: a new folder under reports/tiny
    assert (f"note: {earlier} holds an interrupted session of 'tiny' with the same settings (2 of 4 runs "
            f"finished); to continue that one instead, press Ctrl-C and run: bnbench run {tiny_scenario} --resume "
            f"{earlier}") in output
    # Other settings are another experiment: nothing to point out.
    assert "note:" not in run(str(tiny_scenario), "--set", "train.lr=0.01")


def test_resuming_a_finished_folder_changes_nothing(tiny_scenario, tmp_path):
    out = tmp_path / "done"
    run(str(tiny_scenario), "--out", str(out), "--set", "energy.idle_s=0.2")
    manifest, scenario = (out / "manifest.json").read_bytes(), (out / "scenario.toml").read_bytes()
    output = run(str(tiny_scenario), "--resume", str(out), "--set", "energy.idle_s=0.2")
    assert f"nothing left to resume: all 4 runs in {out} are finished" in output
    assert "idle baseline" not in output
    assert (out / "manifest.json").read_bytes() == manifest  # end time, idle power, no resume entry
    # A forced change on a finished folder would describe runs that never used it: it is not applied.
    output = run(str(tiny_scenario), "--resume", str(out), "--force", "--set", "train.lr=0.01")
    assert "the changed settings are not applied: no run would train with them" in output
    assert (out / "scenario.toml").read_bytes() == scenario
    assert (out / "manifest.json").read_bytes() == manifest


def test_a_forced_change_says_which_runs_trained_with_it(tiny_scenario, tmp_path):
    out = tmp_path / "forced"
    run(str(tiny_scenario), "--out", str(out))
    drop_rows(out, "bn-s0", "bn-s1")
    output = run(str(tiny_scenario), "--resume", str(out), "--force", "--set", "train.lr=0.01")
    assert "changed: train.lr 0.001 -> 0.01" in output
    entry = json.loads((out / "manifest.json").read_text())["resumes"][-1]
    assert entry["trained"] == ["bn-s0", "bn-s1"] and entry["finished_before"] == ["control-s0", "control-s1"]
    md = " ".join((out / "report.md").read_text().split())
    assert ("with changed settings (train.lr 0.001 -> 0.01): runs trained on with them: bn-s0, bn-s1; runs "
            "finished before, with the earlier settings: control-s0, control-s1. The settings below are the "
            "latest.") in md
