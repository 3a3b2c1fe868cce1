"""Helpers for the reliability tests: the quick scenario with tiny budgets, run as a real `bnbench` process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICK = REPO / "scenarios" / "quick.toml"


def tiny_sets(max_steps: int, eval_every: int, checkpoint_every: int) -> list[str]:
    """--set options that shrink quick.toml to one seed, one worker, a batch of 8, one thread and `max_steps` steps."""
    sets = [
        "scenario.seeds=[0]", "scenario.workers=1", "task.batch_size=8", "train.threads=1", "train.log_every=2",
        "energy.idle_s=0",
        f"train.max_steps={max_steps}", f"train.eval_every={eval_every}", f"train.checkpoint_every={checkpoint_every}",
    ]
    return [arg for s in sets for arg in ("--set", s)]


def bnbench_process(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    """`bnbench ARGS` in its own process, plain output (no live table), stdout and stderr together."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "bnbench", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], timeout_s: float = 120.0) -> None:
    """Poll `condition` every 10 ms until it holds; fail if the process ends first or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"bnbench ended (rc {process.returncode}) before the awaited state:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out after {timeout_s} s")
        time.sleep(0.01)


TINY = """
[scenario]
name = "tiny"
description = "Two tiny runs."
seeds = [0]
device = "cpu"

[task]
batch_size = 8
eval_size = 48

[train]
max_steps = 4
eval_every = 4
log_every = 2
checkpoint_every = 2
threads = 1

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""


def finished_folder(parent: Path) -> tuple[Path, Path]:
    """(scenario file, results folder) of TINY trained to the end in `parent`: control-s0 and bn-s0, 4 steps each,
    checkpoints at steps 2 and 4."""
    from typer.testing import CliRunner

    from bnbench.cli import app

    scenario = parent / "tiny.toml"
    scenario.write_text(TINY, encoding="utf-8")
    out = parent / "results"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return scenario, out
