"""A command that reports a non-finite loss or metric has diverged, as a built-in run whose loss is not finite."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app

from .test_command import scenario

runner = CliRunner()
PYTHON = json.dumps(sys.executable)

# The seed picks what the script reports: seed 0 a good run, seed 1 a NaN loss in its stdout (then it would
# sleep for 60 s), seed 2 an infinite accuracy through the reporter.
SCRIPT = """
import sys, time
from bnbench.reporter import Reporter
seed = int(sys.argv[1])
r = Reporter()
if seed == 1:
    print("it 3 | train_loss=nan", flush=True)
    time.sleep(60)
r.log(2, loss=0.5)
r.evaluate(4, acc=float("inf") if seed == 2 else 70.0)
"""
PARSE = '[task.parse]\nlog = \'it (?P<step>\\d+) \\| train_loss=(?P<loss>\\S+)\'\n'


def test_non_finite_reports_are_diverged_runs_and_the_command_is_stopped(tmp_path: Path):
    out = tmp_path / "out"
    started = time.monotonic()
    result = runner.invoke(app, ["run", str(scenario(tmp_path, SCRIPT, PARSE, seeds="[0, 1, 2]")), "--out", str(out)],
                           env={"COLUMNS": "200"})
    took_s = time.monotonic() - started
    assert result.exit_code == 0, result.output  # a diverged run is a result, not an error
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    assert runs["status"].to_dict() == {"control-s0": "completed", "control-s1": "diverged",
                                        "control-s2": "diverged"}
    assert runs.loc["control-s1", "error"] == "non-finite loss (nan) at step 3"
    assert runs.loc["control-s2", "error"] == "non-finite acc (inf) at step 4"
    assert runs.loc["control-s0", "final_acc"] == 70.0
    # The NaN run was stopped at once, not left to sleep its 60 s.
    assert took_s < 45, f"took {took_s:.0f} s"
