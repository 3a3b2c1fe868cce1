"""SIGTERM and SIGINT: the step finishes, a checkpoint is saved, the run is `interrupted`, the exit is 143/130."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from bnbench import checkpoint
from bnbench.commands.run import stop_on_signals

from .helpers import QUICK, bnbench_process, tiny_sets, wait_for

# Far more steps than the test waits for, and no evaluation before the end: the signal lands mid-training.
SETS = tiny_sets(max_steps=5000, eval_every=5000, checkpoint_every=5)
EXIT_WITHIN_S = 15.0  # "a few seconds" on a loaded 2-core machine: one step, a checkpoint, a flush


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_state_and_exits_with_its_code(tmp_path: Path, signum: int, code: int):
    out = tmp_path / "results"
    process = bnbench_process(["run", str(QUICK), *SETS, "--out", str(out)], cwd=tmp_path)
    folder = out / "runs" / "control-s0" / "checkpoints"
    wait_for(lambda: bool(checkpoint.list_checkpoints(folder)), process)
    sent = time.monotonic()
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)
    took_s = time.monotonic() - sent

    assert process.returncode == code, output
    assert took_s < EXIT_WITHIN_S, f"exit took {took_s:.1f} s"
    runs = pd.read_csv(out / "runs.csv")
    # Only the run in progress has a row: interrupted, after at least the 5 steps of its first checkpoint.
    assert runs["run_id"].tolist() == ["control-s0"] and runs["status"].tolist() == ["interrupted"]
    steps = int(runs["steps"].iloc[0])
    assert 5 <= steps < 5000
    # Its final checkpoint is at the step it stopped at, intact; the curves reach that step.
    found, state, _ = checkpoint.load_latest(folder)
    assert found is not None and found.step == steps and state is not None and state["status"] == "interrupted"
    curves = pd.read_parquet(out / "curves.parquet")
    assert curves["step"].max() == steps
    assert not (out / "runs" / "bn-s0").exists()  # the next run never started
    assert f"resume with --resume {out}" in output


def test_a_second_ctrl_c_raises_at_once():
    stop = threading.Event()
    with stop_on_signals(stop) as received:
        os.kill(os.getpid(), signal.SIGINT)  # the first asks the run to stop after its step
        assert stop.wait(5) and received["signal"] == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second does not wait
            time.sleep(5)
