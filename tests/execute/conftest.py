"""Tiny matrices for the executors: 8x8 digits with a LeNet train in well under a second per run."""

from __future__ import annotations

from pathlib import Path

import pytest

DIGITS_SCENARIO = """
[scenario]
name = "tiny-digits"
seeds = [0, 1]
device = "cpu"

[task]
name = "digits"
batch_size = 8

[model]
arch = "lenet"

[train]
max_steps = 4
eval_every = 2
log_every = 2
threads = 1

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""


@pytest.fixture
def digits_scenario(tmp_path: Path) -> Path:
    """A 2-variant x 2-seed matrix (4 runs) of 4 steps each."""
    path = tmp_path / "digits.toml"
    path.write_text(DIGITS_SCENARIO, encoding="utf-8")
    return path
