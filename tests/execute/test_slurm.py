"""The Slurm executor against a real one-node Slurm cluster started here (tests/execute/slurm_cluster.py): a
matrix end to end, a job signalled mid-run that requeues and resumes to an uninterrupted run's numbers, and a
resume that reattaches to the jobs a killed session left queued."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.commands.run import execute_scenario
from bnbench.scenario import load

from . import slurm_cluster
from .conftest import DIGITS_SCENARIO
from .helpers import read_rows

pytest.importorskip("submitit")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm_cluster.Cluster]:
    started = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    if isinstance(started, str):
        pytest.skip(started)
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(started.conf)  # sbatch, squeue and scancel, here and in subprocesses
    try:
        yield started
    finally:
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        started.stop()


def _wait(ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _jobs(out: Path) -> dict[str, str]:
    path = out / "slurm" / "jobs.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _queue() -> dict[str, str]:
    shown = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T"], capture_output=True, text=True,
                           check=True)
    return dict(line.split("|") for line in shown.stdout.split())


def test_slurm_runs_a_matrix_with_each_node_s_idle_baseline(cluster: slurm_cluster.Cluster, digits_scenario: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out), "--executor", "slurm",
                                      "--set", "scenario.seeds=[0]", "--set", "energy.idle_s=0.3"])
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert sorted(r["run_id"] for r in rows) == ["bn-s0", "control-s0"]
    assert {r["status"] for r in rows} == {"completed"}
    # Each run ran as its own job of one array, on the cluster's only node.
    jobs = _jobs(out)
    assert sorted(jobs) == ["bn-s0", "control-s0"]
    assert len({job.split("_")[0] for job in jobs.values()}) == 1
    assert {r["device"] for r in rows} == {f"{slurm_cluster.NODE}/cpu"}
    assert f"submitted 2 job(s) to Slurm: {jobs['control-s0']}" in result.output
    # The run's own files were written on the node, straight into the results folder: 4 steps, checkpoints at 2, 4.
    assert sorted(p.name for p in (out / "runs" / "bn-s0" / "checkpoints").iterdir()) == [
        "step-00000002.pt", "step-00000004.pt"]
    # The node's idle baseline, metered by the first job there (the other waited): in the manifest, and each
    # run charged at most all of it.
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    [(node, baseline)] = manifest["idle_nodes"].items()
    assert node == slurm_cluster.NODE
    assert list(baseline["idle_w"]) == ["cpu"] and baseline["idle_w"]["cpu"] is not None
    assert all(0 <= float(r["idle_w"]) <= baseline["idle_w"]["cpu"] * (1 + 1e-9) for r in rows)
    assert all(r["net_kwh"] != "" and float(r["net_kwh"]) <= float(r["kwh"]) for r in rows)
    # Every event the jobs spooled was replayed and taken away.
    assert not any((out / "slurm" / "events").rglob("*.pkl"))


def test_a_signalled_job_requeues_and_resumes_to_the_uninterrupted_numbers(cluster: slurm_cluster.Cluster,
                                                                          tmp_path: Path) -> None:
    one_run = tmp_path / "one.toml"  # the control variant alone, seed 0
    one_run.write_text(DIGITS_SCENARIO.split("[[variant]]")[0], encoding="utf-8")
    steps = ["scenario.seeds=[0]", "train.max_steps=300", "train.eval_every=50", "train.log_every=50"]
    reference = tmp_path / "reference"  # the same run, never stopped, trained here
    execute_scenario(load(one_run, steps), out=reference, devices=None, argv=[], report=False,
                     console=Console(file=io.StringIO()))

    out = tmp_path / "out"

    def signal_the_job() -> None:
        first = out / "runs" / "control-s0" / "checkpoints" / "step-00000050.pt"
        _wait(first.exists, 180, "control-s0's first checkpoint")  # a loaded machine takes a minute to start a job
        # What Slurm does before a job's time limit (and submitit's test of a preemption): USR2 to the job.
        subprocess.run(["scancel", "--signal=USR2", _jobs(out)["control-s0"]], check=True)

    signaller = threading.Thread(target=signal_the_job)
    signaller.start()
    sets = [arg for step in steps for arg in ("--set", step)]
    result = CliRunner().invoke(app, ["run", str(one_run), "--out", str(out), "--executor", "slurm", *sets])
    signaller.join()
    assert result.exit_code == 0, result.output
    control = read_rows(out)
    # The job stopped after its step with a checkpoint (an interrupted row), was requeued, and its next attempt
    # resumed from that checkpoint: two rows, the last completed after all 300 steps.
    assert [r["run_id"] for r in control] == ["control-s0"] * 2
    assert [r["status"] for r in control] == ["interrupted", "completed"]
    stopped_at = int(control[0]["steps"])
    assert 50 <= stopped_at < 300 and control[1]["steps"] == "300"
    log = (out / "runs" / "control-s0" / "run.log").read_text(encoding="utf-8")
    assert f"resumed from step-{stopped_at:08d}.pt at step {stopped_at}" in log
    # On the CPU a resumed run reaches the same weights bit for bit: the same accuracy as a run never stopped.
    [expected] = read_rows(reference)
    assert control[1]["final_accuracy_pct"] == expected["final_accuracy_pct"]
    assert control[1]["best_accuracy_pct"] == expected["best_accuracy_pct"]


def test_resume_reattaches_to_the_jobs_a_killed_session_left_queued(
        cluster: slurm_cluster.Cluster, digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Each job asks for both of the node's cores: one runs, the other waits in the queue.
    options = ["--executor", "slurm", "--cpus", "2", "--set", "scenario.seeds=[0]"]
    session = subprocess.Popen([sys.executable, "-m", "bnbench", "run", str(digits_scenario), "--out", str(out),
                                *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: len(_jobs(out)) == 2, 120, "the jobs' ids in the results folder")
        session.send_signal(signal.SIGKILL)  # the login shell gone: nothing cancels the jobs
        session.wait(timeout=10)
    finally:
        session.kill()
    jobs = _jobs(out)
    queue = _queue()
    assert {queue[job] for job in jobs.values()} <= {"PENDING", "RUNNING", "CONFIGURING", "COMPLETED"}
    assert "PENDING" in {queue[job] for job in jobs.values()}

    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--resume", str(out), *options])
    assert result.exit_code == 0, result.output
    assert "reattached to 2 job(s)" in result.output or "reattached to 1 job(s)" in result.output
    assert "job(s) to Slurm" not in result.output  # nothing submitted
    # No job was submitted twice: the folder's ids are the first session's, and Slurm knows no others for them.
    assert _jobs(out) == jobs
    rows = read_rows(out)
    assert sorted(r["run_id"] for r in rows) == ["bn-s0", "control-s0"]
    assert {r["status"] for r in rows} == {"completed"}


def test_a_job_cancelled_from_outside_saves_its_run_and_the_session_says_so(cluster: slurm_cluster.Cluster,
                                                                           tmp_path: Path) -> None:
    one_run = tmp_path / "one.toml"
    one_run.write_text(DIGITS_SCENARIO.split("[[variant]]")[0], encoding="utf-8")
    out = tmp_path / "out"

    def cancel_the_job() -> None:
        first = out / "runs" / "control-s0" / "checkpoints" / "step-00000050.pt"
        _wait(first.exists, 180, "control-s0's first checkpoint")
        subprocess.run(["scancel", _jobs(out)["control-s0"]], check=True)  # SIGTERM, then SIGKILL if still there

    canceller = threading.Thread(target=cancel_the_job)
    canceller.start()
    result = CliRunner().invoke(app, ["run", str(one_run), "--out", str(out), "--executor", "slurm",
                                      "--set", "scenario.seeds=[0]", "--set", "train.max_steps=300",
                                      "--set", "train.eval_every=50", "--set", "train.log_every=50"])
    canceller.join()
    # The job's SIGTERM stopped the run after its step, with a checkpoint at that step; the job was not requeued,
    # so the session ends with the run unfinished: exit 1 and the command that continues it.
    assert result.exit_code == 1, result.output
    [row] = read_rows(out)
    assert row["status"] == "interrupted" and 50 <= int(row["steps"]) < 300
    checkpoint = out / "runs" / "control-s0" / "checkpoints" / f"step-{int(row['steps']):08d}.pt"
    assert checkpoint.is_file()
    assert (f"1 run stopped from outside this session (control-s0): each saved a checkpoint; resume with "
            f"--resume {out}") in " ".join(result.output.split())
