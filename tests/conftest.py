"""Shared fixtures: tiny scenarios that train in a second or two on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

TINY_SCENARIO = """
[scenario]
name = "tiny"
seeds = [0, 1]
device = "cpu"

[task]
batch_size = 8

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
decay = 0.9
"""


@pytest.fixture(autouse=True)
def _own_check_record(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no remembered scenario checks (bnbench.vetted), and never touches the user's."""
    monkeypatch.setenv("BNBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("bnbench-cache")))


@pytest.fixture
def tiny_scenario(tmp_path: Path) -> Path:
    """A 2-variant x 2-seed scenario of 4 steps each."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SCENARIO, encoding="utf-8")
    return path


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write TOML text to a scenario file and return its path."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
