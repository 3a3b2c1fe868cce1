"""`bnbench export DIR --mlflow URI` into a local MLflow file store, read back with MLflow's own client."""

from __future__ import annotations

import json
import shutil
import sys

import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from bnbench.cli import app

pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'bnbench[mlflow]')")
from mlflow.entities import ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

runner = CliRunner()
UUID = "GPU-82e5abc4-a10c-cb1f-6f7a-6a542c914fae"


@pytest.fixture
def store(tmp_path, monkeypatch):
    # MLflow 3 refuses a folder store unless asked; a user exporting to one sets the same variable.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return tmp_path / "mlruns"


@pytest.fixture
def session(folder):
    """Control finals 29.9, 30.0, 30.1 dB, bn 27.9, 28.0, 28.1 (worse: -2.00 dB, p<0.001), 100 J a control run
    and 120 J a bn run on one GPU, measured by its counter; bn sets norm = "batch"."""
    root = folder(finals={"control": [29.9, 30.0, 30.1], "bn": [27.9, 28.0, 28.1]},
                  energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="nvml-counter",
                  busy_pct={"control": [90.0] * 3, "bn": [40.0] * 3})
    runs = pd.read_csv(root / "runs.csv")
    runs["gpu_uuid"] = UUID
    runs.to_csv(root / "runs.csv", index=False)
    scenario = {"scenario": {"name": "synthetic", "seeds": [0, 1, 2], "baseline": "control"},
                "task": {"name": "super-resolution"}, "train": {"max_steps": 30, "eval_every": 10, "target": 30.0},
                "variant": [{"name": "control"}, {"name": "bn", "norm": "batch", "decay": 0.9}]}
    (root / "scenario.toml").write_text(tomli_w.dumps(scenario), encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"bnbench": "0.1.0", "host": "lab", "devices": ["cuda:0"],
                                                    "started_at": "2026-12-01T10:00:00+00:00"}), encoding="utf-8")
    (root / "figures").mkdir()
    (root / "figures" / "loss.svg").write_text("<svg/>", encoding="utf-8")
    return root


def active(store, experiment="synthetic"):
    client = MlflowClient(str(store))
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return client, {r.info.run_name: r for r in found}


def test_every_run_with_its_curves_and_joules_once_however_often_it_is_exported(session, store, tmp_path):
    result = runner.invoke(app, ["export", str(session), "--mlflow", str(store)])
    assert result.exit_code == 0, result.output
    assert f"exported 6 runs of {session} to MLflow experiment 'synthetic'" in result.output
    result = runner.invoke(app, ["export", str(session), "--mlflow", str(store)])
    assert result.exit_code == 0, result.output
    assert "already exported, unchanged: 6 runs" in result.output
    # The same session moved to another folder is still the same session (its manifest's host and start).
    moved = shutil.copytree(session, tmp_path / "moved")
    assert "already exported, unchanged" in runner.invoke(app, ["export", str(moved), "--mlflow", str(store)]).output

    client, runs = active(store)
    assert sorted(runs) == ["bn-s0", "bn-s1", "bn-s2", "control-s0", "control-s1", "control-s2", "synthetic results"]
    parent = runs["synthetic results"]
    assert {runs[f"bn-s{s}"].data.tags["mlflow.parentRunId"] for s in range(3)} == {parent.info.run_id}

    bn = runs["bn-s2"]
    # Evaluations at steps 10, 20, 30 rise to the final 28.1 dB from final - 2; energy so far is a third each.
    history = [(m.step, round(m.value, 6)) for m in client.get_metric_history(bn.info.run_id, "psnr_db")]
    assert history == [(10, 26.1), (20, 27.1), (30, 28.1)]
    energy = [(m.step, round(m.value, 6)) for m in client.get_metric_history(bn.info.run_id, "energy_so_far_j")]
    assert energy == [(10, 40.0), (20, 80.0), (30, 120.0)]
    loss = client.get_metric_history(bn.info.run_id, "loss")
    assert len(loss) == 30 and [m.value for m in loss if m.step == 4] == [0.25]  # loss 1 / step
    metrics = bn.data.metrics
    # 120 J = 120 / 3.6e6 kWh; a cup is 33.3 Wh: 120 / 3600 / 33.3 cups; 400 g CO2 and 0.2 a kWh.
    assert metrics["energy_j"] == 120.0 and metrics["kwh"] == pytest.approx(120 / 3.6e6)
    assert metrics["tea_cups"] == pytest.approx(120 / 3600 / 33.3)
    assert metrics["co2_g"] == pytest.approx(120 / 3.6e6 * 400)
    assert metrics["cost"] == pytest.approx(120 / 3.6e6 * 0.2)
    assert metrics["gpu_busy_pct"] == 40.0 and metrics["final_psnr_db"] == pytest.approx(28.1)
    assert "steps_to_target" not in metrics  # bn never reached 30 dB: no figure, not a zero
    # control-s2 evaluates 28.1, 29.1, 30.1 dB: 30 dB at step 30; control-s0 ends at 29.9 and never does.
    assert runs["control-s2"].data.metrics["steps_to_target"] == 30.0
    assert "steps_to_target" not in runs["control-s0"].data.metrics
    assert bn.data.tags | {"energy_source": "nvml-counter", "gpu_uuid": UUID, "verdict": "worse",
                           "status": "completed", "variant": "bn", "seed": "2"} == bn.data.tags
    assert bn.data.params["variant.norm"] == "batch" and bn.data.params["variant.decay"] == "0.9"
    assert bn.data.params["train.max_steps"] == "30" and bn.data.params["seed"] == "2"
    assert runs["control-s0"].data.tags["verdict"] == "baseline"

    # The session: totals 3 x 100 + 3 x 120 = 660 J, the verdict, and the folder's files as artifacts.
    assert parent.data.metrics["total_energy_j"] == 660.0 and parent.data.metrics["completed_runs"] == 6.0
    assert parent.data.tags["verdict.bn"] == "worse" and parent.data.tags["energy_source"] == "nvml-counter"
    assert parent.data.tags["verdict_sentence.bn"].startswith("bn: PSNR -2.00 dB [-2.35, -1.65] vs control")
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "bnbench")}
    assert {"bnbench/scenario.toml", "bnbench/manifest.json", "bnbench/runs.csv", "bnbench/figures"} <= names
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "bnbench/figures")] == [
        "bnbench/figures/loss.svg"]


def test_a_session_that_changed_replaces_its_earlier_export(session, store):
    assert runner.invoke(app, ["export", str(session), "--mlflow", str(store)]).exit_code == 0
    # A resume finished a fourth seed of bn: one more row and its curves.
    runs = pd.read_csv(session / "runs.csv")
    extra = runs[runs["run_id"] == "bn-s2"].assign(run_id="bn-s3", seed=3)
    pd.concat([runs, extra]).to_csv(session / "runs.csv", index=False)
    curves = pd.read_parquet(session / "curves.parquet")
    more = curves[curves["run_id"] == "bn-s2"].assign(run_id="bn-s3", seed=3)
    pd.concat([curves, more]).to_parquet(session / "curves.parquet", index=False)
    result = runner.invoke(app, ["export", str(session), "--mlflow", str(store)])
    assert result.exit_code == 0, result.output
    assert "exported 7 runs" in result.output and "replacing the 7 runs of an earlier export" in result.output
    client, active_runs = active(store)
    assert len(active_runs) == 8 and "bn-s3" in active_runs  # a parent and 7 runs, no copies
    everything = client.search_runs([client.get_experiment_by_name("synthetic").experiment_id],
                                    run_view_type=ViewType.ALL)
    assert len(everything) == 15  # the first export's 7, deleted as MLflow deletes


def test_bad_targets_are_one_line_exit_2(session, store, monkeypatch):
    def error(*args):
        result = runner.invoke(app, ["export", str(session), *args])
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1
        return result.stderr

    assert "bnbench export needs a target: --mlflow URI" in error()
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    assert "set `MLFLOW_ALLOW_FILE_STORE=true`" in error("--mlflow", str(store))
    assert not store.exists() or not any(store.iterdir())
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if MLflow were not installed
    assert "--mlflow needs MLflow's client: pip install 'bnbench[mlflow]'" in error("--mlflow", str(store))
