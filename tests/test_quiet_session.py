"""A session on the CPU says each thing once: a warning its pool workers would each repeat (RAPL unavailable)
is printed by one process only, and threads beyond a slot's cores get one warning, not a silent cap."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.cores import usable_cores
from bnbench.energy import session_warnings

runner = CliRunner()


def test_a_warning_is_first_in_a_session_once(tmp_path, monkeypatch):
    # Two processes of one session share the file: the second asking about the same line is told it was said.
    monkeypatch.setenv(session_warnings.ENV, str(tmp_path / "said.txt"))
    assert session_warnings.first_in_session("cpu: rapl unavailable; using estimate")
    assert not session_warnings.first_in_session("cpu: rapl unavailable; using estimate")
    assert session_warnings.first_in_session("another line")
    monkeypatch.delenv(session_warnings.ENV)
    assert session_warnings.first_in_session("another line")  # outside a session each process decides alone


@pytest.mark.skipif(len(usable_cores()) < 2, reason="two workers need two cores")
def test_two_workers_warn_once_each_and_cap_threads_to_their_core(write_scenario, tmp_path):
    # Two workers on the first two cores: each slot owns one core, so threads = 2 is capped to 1, said once. The
    # main process (idle baseline) and both workers open the same meters: each of their warnings prints once.
    path = write_scenario("""
[scenario]
name = "tiny"
seeds = [0]
device = "cpu"
workers = 2

[task]
batch_size = 8
eval_size = 48

[train]
max_steps = 2
eval_every = 2
threads = 2

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
""")
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "bnbench", "run", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300,
                          preexec_fn=lambda: os.sched_setaffinity(0, sorted(usable_cores())[:2]))
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout + done.stderr
    threads = [line for line in text.splitlines() if "threads = 2" in line]
    assert threads == ["warning: threads = 2 is more than the 1 core each run's slot owns; runs use 1 (set threads "
                       "= 1 or fewer, or run fewer workers at once)"], text
    warnings = re.findall(r"^bnbench: warning: .*$", done.stderr, re.M)
    assert len(warnings) == len(set(warnings)), warnings


def test_no_idle_baseline_is_waited_for_where_the_estimate_meters(tiny_scenario, tmp_path, monkeypatch):
    # An empty powercap tree: no RAPL, so the CPU is metered by the estimate, whose idle draw is 0 W by its model
    # (CPU seconds of a sleeping process). The 30 s baseline asked for is not waited for, and it says so once.
    (tmp_path / "powercap").mkdir()
    monkeypatch.setenv("BNBENCH_POWERCAP", str(tmp_path / "powercap"))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out), "--set", "energy.idle_s=30",
                                 "--set", "scenario.seeds=[0]"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("idle baseline")]
    assert lines == ["idle baseline: not measured for cpu: an estimate counts the CPU time runs use, so its idle "
                     "draw is 0 W by its model"], result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["idle_w"] == {"cpu": 0.0} and manifest["idle_s"] == 0.0
