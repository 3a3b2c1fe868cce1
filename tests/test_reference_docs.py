"""The manual's reference pages are generated from the definitions (the typer app, the scenario models, the
results schema); a page that no longer matches what its generator writes is stale."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import Field

from bnbench.commands import reference
from bnbench.results import schema
from bnbench.scenario import _Section
from tests.conftest import REPO

REFRESH = "python -m bnbench.commands.reference"


def test_the_committed_reference_pages_are_what_the_generator_writes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "bnbench.commands.reference", str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(reference.PAGES)
    stale = [name for name in reference.PAGES
             if (tmp_path / name).read_text() != (REPO / "docs" / "reference" / name).read_text()]
    assert stale == [], f"docs/reference/{', '.join(stale)} stale: run `{REFRESH}` and commit the pages"


def test_every_command_option_key_and_column_is_on_its_page():
    cli, scenario, results = (reference.PAGES[n]() for n in ("cli.md", "scenario.md", "results.md"))
    for command in ("validate", "run", "measure", "plan", "tea", "devices", "doctor", "schema", "report",
                    "compare", "eval"):
        assert f"## `bnbench {command}`" in cli
    assert "`--runs-per-gpu` K | option | integer, >= 1, <= 64 |  |" in cli
    assert "| `lr` | number | `0.001` | > 0 | Learning rate. |" in scenario
    assert "| `runs_per_gpu` | integer | `1` | >= 1, <= 64 |" in scenario
    for column in [*schema.run_columns("m", ()), *schema.POWER_COLUMNS]:
        if column not in ("final_m", "best_m"):
            assert f"| `{column}` |" in results


def test_a_key_without_a_description_is_refused():
    class Undocumented(_Section):
        steps: int = Field(default=1, ge=1)

    with pytest.raises(ValueError, match=r"\[x\] steps has no description"):
        reference.keys_table(Undocumented, "[x]")


def test_a_column_without_a_description_is_refused():
    with pytest.raises(ValueError, match="no description for new_column"):
        reference._columns_table(["run_id", "new_column"], schema.RUN_COLUMN_HELP, "runs.csv")
