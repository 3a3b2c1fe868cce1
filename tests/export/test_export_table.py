"""`[export] mlflow`: a session that ends is exported as `bnbench export` would, once; a failed export is a line,
not a lost session; a missing MLflow is refused before anything trains."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.execute.resume import scenario_changes
from bnbench.scenario import load

pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'bnbench[mlflow]')")
from mlflow.tracking import MlflowClient  # noqa: E402

runner = CliRunner()
DIGITS_SCENARIO = """
[scenario]
name = "tiny-digits"
seeds = [0]
device = "cpu"

[task]
name = "digits"
batch_size = 8

[model]
arch = "lenet"

[train]
max_steps = 2
eval_every = 2
threads = 1

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""
EXPORT = '\n[export]\nmlflow = "mlruns"\nexperiment = "tiny"\n'


@pytest.fixture
def scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 opens a folder store only when asked
    path = tmp_path / "scenarios" / "digits.toml"
    path.parent.mkdir()
    path.write_text(DIGITS_SCENARIO + EXPORT, encoding="utf-8")
    return path


def _runs(store: Path) -> list[str]:
    client = MlflowClient(str(store))
    experiment = client.get_experiment_by_name("tiny")
    return sorted(r.info.run_name for r in client.search_runs([experiment.experiment_id]))


def test_a_finished_session_is_exported_to_the_folder_beside_its_scenario_once(scenario: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # the store is relative to the scenario file, not to where bnbench runs
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    store = scenario.parent / "mlruns"
    assert "exported 2 runs of" in result.output and str(store) in result.output
    # One session parent and its two runs.
    assert _runs(store) == ["bn-s0", "control-s0", "tiny-digits out"]  # the parent: scenario and folder
    # The saved scenario keeps the target, so a resume of the folder exports to the same place...
    assert f'mlflow = "{store}"' in (out / "scenario.toml").read_text(encoding="utf-8")
    again = runner.invoke(app, ["run", str(scenario), "--resume", str(out)])
    assert again.exit_code == 0, again.output
    # ... and finds it already there: nothing written twice.
    assert "already exported, unchanged: 2 runs" in again.output
    assert _runs(store) == ["bn-s0", "control-s0", "tiny-digits out"]  # the parent: scenario and folder


def test_a_failed_export_says_how_to_export_later_and_keeps_the_session(scenario: Path, tmp_path: Path):
    out = tmp_path / "out"
    # A file where the store's folder should be: MLflow cannot create it.
    (scenario.parent / "mlruns").write_text("not a folder", encoding="utf-8")
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output  # the runs trained and are saved: the export is extra
    line = next(x for x in result.output.splitlines() if x.startswith("export to MLflow failed:"))
    assert line.endswith(f"the results are intact: bnbench export {out} --mlflow {scenario.parent / 'mlruns'}")
    assert len((out / "runs.csv").read_text(encoding="utf-8").splitlines()) == 3  # header and both runs


def test_without_mlflow_the_export_is_refused_before_a_folder_exists(scenario: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    out = tmp_path / "out"
    for command in (["validate", str(scenario)], ["run", str(scenario), "--out", str(out)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert result.output.strip().endswith("[export] mlflow needs MLflow's client: pip install 'bnbench[mlflow]' "
                                              "(or remove the key and export later with bnbench export)")
    assert not out.exists()


def test_export_settings_change_where_results_go_not_what_they_are(scenario: Path, tmp_path: Path):
    with_export = load(scenario)
    plain = tmp_path / "plain.toml"
    plain.write_text(DIGITS_SCENARIO, encoding="utf-8")
    without = load(plain)
    # The same experiment: a session with an export is found as unfinished by one without, and vice versa.
    assert with_export.fingerprint() == without.fingerprint()
    real, harmless = scenario_changes(without.to_dict(), with_export.to_dict())
    assert real == [] and harmless == ["export.experiment (default) -> 'tiny'",
                                       f"export.mlflow (default) -> '{scenario.parent / 'mlruns'}'"]
    # A URI with a scheme is left as written; a blank one is refused.
    assert load(scenario, ["export.mlflow=http://tracking:5000"]).export.mlflow == "http://tracking:5000"
    with pytest.raises(Exception, match=r"\[export\] mlflow.*must not be empty"):
        load(scenario, ["export.mlflow= "])
