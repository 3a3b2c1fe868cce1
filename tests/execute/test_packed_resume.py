"""A packed session on two fake GPUs (runs_per_gpu = 2: four runs at once), killed with SIGKILL once all four
have a checkpoint, then resumed: every run finishes once, in the same order and slots, each charged its half of a
board, with the weights of the same run trained start to end in one go."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch

from bnbench import checkpoint
from bnbench.results.load import load_scenario_dict
from bnbench.scenario import expand, from_dict
from bnbench.train import train
from tests.reliability.helpers import wait_for

from .fake_gpus import UUIDS, on_fake_gpus

MAX_STEPS = 200
RUNS = ["control-s0", "bn-s0", "control-s1", "bn-s1"]

PACKED = f"""
[scenario]
name = "packed-digits"
seeds = [0, 1]
device = "cuda"
runs_per_gpu = 2

[task]
name = "digits"
batch_size = 8

[model]
arch = "lenet"

[train]
max_steps = {MAX_STEPS}
eval_every = 100
log_every = 10
checkpoint_every = 10
threads = 1

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""


def checkpoints(out: Path, run_id: str) -> list[checkpoint.CheckpointFile]:
    return checkpoint.list_checkpoints(out / "runs" / run_id / "checkpoints")


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Start the packed session, kill it and its workers once every run has a checkpoint, then resume it."""
    root = tmp_path_factory.mktemp("packed")
    scenario, out = root / "packed.toml", root / "results"
    scenario.write_text(PACKED, encoding="utf-8")
    first = on_fake_gpus(["run", str(scenario), "--out", str(out)], root)
    wait_for(lambda: all(checkpoints(out, r) for r in RUNS), first, timeout_s=300)
    # The whole session dies at once (a node lost, the OOM killer): the parent and every worker, mid-step.
    workers = psutil.Process(first.pid).children(recursive=True)
    first.send_signal(signal.SIGKILL)
    for worker in workers:
        worker.kill()
    first.wait(timeout=30)
    psutil.wait_procs(workers, timeout=30)
    killed_at = {r: checkpoints(out, r)[0].step for r in RUNS}  # newest first
    order_before = json.loads((out / "manifest.json").read_text())["run_order"]
    rows_before = pd.read_csv(out / "runs.csv") if (out / "runs.csv").exists() else pd.DataFrame()
    again = on_fake_gpus(["run", str(scenario), "--resume", str(out)], root)
    output, _ = again.communicate(timeout=600)
    return {"out": out, "rc_first": first.returncode, "killed_at": killed_at, "order_before": order_before,
            "rows_before": rows_before, "rc": again.returncode, "output": output}


def unfinished(resumed: dict) -> list[str]:
    """The runs without a row when the session was killed (all four, unless a loaded machine let one finish)."""
    done = set(resumed["rows_before"].get("run_id", []))
    return [r for r in RUNS if r not in done]


def test_the_kill_landed_mid_session(resumed):
    assert resumed["rc_first"] == -signal.SIGKILL
    assert resumed["order_before"]["slots"] == 4 and resumed["order_before"]["runs_per_gpu"] == 2
    assert unfinished(resumed), "every run had finished before the kill"
    assert all(0 < resumed["killed_at"][r] <= MAX_STEPS for r in unfinished(resumed)), resumed["killed_at"]


def test_the_resume_finishes_every_run_once_in_the_same_order_and_packing(resumed):
    assert resumed["rc"] == 0, resumed["output"]
    todo = unfinished(resumed)
    assert (f"resuming: {len(RUNS) - len(todo)} finished, {len(todo)} continue from a checkpoint, 0 start from "
            "step 0") in resumed["output"]
    out = resumed["out"]
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["run_id"]) == sorted(RUNS)
    assert set(runs["status"]) == {"completed"} and set(runs["steps"]) == {MAX_STEPS}
    order = json.loads((out / "manifest.json").read_text())["run_order"]
    assert order == resumed["order_before"]
    for run_id in todo:
        log = (out / "runs" / run_id / "run.log").read_text()
        step = resumed["killed_at"][run_id]
        assert f"resumed from step-{step:08d}.pt at step {step}" in log, (run_id, log)


def test_each_resumed_run_is_charged_its_half_of_a_board(resumed):
    runs = pd.read_csv(resumed["out"] / "runs.csv")
    # Two workers hold each fake board and NVML has no per-process samples: an equal split, no foreign process.
    assert set(runs["gpu_attribution"]) == {"equal"}
    assert set(runs["gpu_shared"]) == {0.0}
    assert sorted(runs["gpu_uuid"].value_counts().items()) == [(UUIDS[0], 2), (UUIDS[1], 2)]


def test_resumed_weights_equal_uninterrupted_runs(resumed):
    out = resumed["out"]
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    threads = torch.get_num_threads()
    try:
        for spec in expand(from_dict(load_scenario_dict(out))):
            outcome, model = train(spec, torch.device("cpu"))  # the same run, start to end in one go
            final = checkpoint.load(checkpoint.checkpoint_path(out / "runs" / spec.run_id / "checkpoints",
                                                               MAX_STEPS))
            for name, tensor in model.state_dict().items():
                assert torch.equal(final["model"][name], tensor), (spec.run_id, name)
            assert runs.loc[spec.run_id, "final_accuracy_pct"] == outcome.evals[-1].metrics["accuracy_pct"]
    finally:
        torch.set_num_threads(threads)
