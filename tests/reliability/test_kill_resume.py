"""kill -9 in the middle of the quick scenario, then resume: nothing lost, nothing twice, same weights."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from bnbench import checkpoint
from bnbench.cli import app
from bnbench.results.load import load_scenario_dict
from bnbench.scenario import expand, from_dict
from bnbench.train import train

from .helpers import QUICK, bnbench_process, tiny_sets, wait_for

MAX_STEPS, EVAL_EVERY, CHECKPOINT_EVERY = 24, 24, 3  # one evaluation per run: a full-photo eval costs ~1 s
SETS = tiny_sets(MAX_STEPS, EVAL_EVERY, CHECKPOINT_EVERY)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run quick.toml (control-s0 then bn-s0), kill -9 it once bn-s0 has its first checkpoint, then resume."""
    out = tmp_path_factory.mktemp("killed") / "results"
    first = bnbench_process(["run", str(QUICK), *SETS, "--out", str(out)], cwd=out.parent)
    bn_checkpoints = out / "runs" / "bn-s0" / "checkpoints"
    wait_for(lambda: bool(checkpoint.list_checkpoints(bn_checkpoints)), first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = checkpoint.list_checkpoints(bn_checkpoints)[0].step
    with open(out / "runs.csv", encoding="utf-8") as handle:
        rows_before = list(csv.DictReader(handle))

    again = subprocess.run([sys.executable, "-m", "bnbench", "run", str(QUICK), *SETS, "--resume", str(out)],
                           cwd=out.parent, capture_output=True, text=True, timeout=300)
    return {"out": out, "killed_at": killed_at, "rows_before": rows_before, "again": again,
            "rc_first": first.returncode}


def test_the_kill_landed_mid_run(resumed):
    # SIGKILL gives -9; control-s0 had finished (bn-s0 runs after it), bn-s0 had not.
    assert resumed["rc_first"] == -signal.SIGKILL
    assert [r["run_id"] for r in resumed["rows_before"]] == ["control-s0"]
    assert CHECKPOINT_EVERY <= resumed["killed_at"] < MAX_STEPS


def test_resume_skips_the_finished_run_and_completes_the_other(resumed):
    again = resumed["again"]
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming: 1 finished, 1 continue from a checkpoint, 0 start from step 0" in again.stdout
    runs = pd.read_csv(resumed["out"] / "runs.csv")
    # control-s0's row was written once (it was skipped); bn-s0's once, by the resumed attempt.
    assert list(runs["run_id"]) == ["control-s0", "bn-s0"]
    assert list(runs["status"]) == ["completed", "completed"] and list(runs["steps"]) == [MAX_STEPS, MAX_STEPS]
    log = (resumed["out"] / "runs" / "bn-s0" / "run.log").read_text()
    assert f"resumed from step-{resumed['killed_at']:08d}.pt at step {resumed['killed_at']}" in log


def test_curves_are_continuous_without_duplicates(resumed):
    curves = pd.read_parquet(resumed["out"] / "curves.parquet")
    for run_id in ("control-s0", "bn-s0"):
        rows = curves[curves["run_id"] == run_id]
        # log_every = 2: one train row at every even step 2..24; one eval, at 24. Nothing twice, no gap.
        assert rows[rows["kind"] == "train"]["step"].tolist() == list(range(2, MAX_STEPS + 1, 2))
        assert rows[rows["kind"] == "eval"]["step"].tolist() == [24]
        assert rows[rows["kind"] == "train"]["t_s"].is_monotonic_increasing
    assert not list((resumed["out"] / "runs").glob("*/curves-*.parquet"))  # all folded in
    power = pd.read_parquet(resumed["out"] / "power.parquet")
    for run_id, samples in power.groupby("run_id"):
        for _, trace in samples.groupby("device"):
            assert trace["t_s"].is_monotonic_increasing, run_id  # the resumed attempt continues the time axis


def test_resumed_weights_equal_an_uninterrupted_run(resumed):
    out = resumed["out"]
    spec = next(s for s in expand(from_dict(load_scenario_dict(out))) if s.run_id == "bn-s0")
    threads = torch.get_num_threads()
    try:
        outcome, model = train(spec, torch.device("cpu"))  # the same run, start to end in one go
    finally:
        torch.set_num_threads(threads)
    final = checkpoint.load(checkpoint.checkpoint_path(out / "runs" / "bn-s0" / "checkpoints", MAX_STEPS))
    expected = model.state_dict()
    assert set(final["model"]) == set(expected)
    for name, tensor in expected.items():  # running_mean/var and num_batches_tracked included
        assert torch.equal(final["model"][name], tensor), name
    assert int(final["model"]["1.num_batches_tracked"]) == MAX_STEPS
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    assert runs.loc["bn-s0", "final_psnr_db"] == outcome.evals[-1].metrics["psnr_db"]


def test_eval_recomputes_the_recorded_psnr(resumed):
    result = CliRunner().invoke(app, ["eval", str(resumed["out"]), "--run", "bn-s0"])
    assert result.exit_code == 0, result.output
    assert "step 24" in result.output and "the same" in result.output


def test_eval_names_a_missing_run(resumed):
    result = CliRunner().invoke(app, ["eval", str(resumed["out"]), "--run", "bn-s9"])
    assert result.exit_code == 2 and "unknown run 'bn-s9'" in result.output
