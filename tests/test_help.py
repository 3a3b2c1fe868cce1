"""Help in one style: every command listed whole (no '...' cut), each with an example, options named by a
word in capitals (never '<int range>' or '<list[str]>'), and compare naming its baseline folder."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()
COMMANDS = ("validate", "run", "measure", "plan", "tea", "devices", "doctor", "report", "compare", "eval")


def test_the_command_list_is_not_cut():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "80"})
    listed = result.output[result.output.index("Commands:"):].splitlines()[1:]
    assert len([line for line in listed if line.strip()]) >= len(COMMANDS)
    assert not any(line.rstrip().endswith("...") for line in listed), result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_an_example_and_plain_metavars(command):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert re.search(rf"Examples?:\n +bnbench {command}\b", result.output), result.output
    options = result.output[result.output.index("Options:"):]
    assert not re.search(r"<[a-z\[\] ]+>", options), options  # '-n, --runs N', not '<int range>'


def test_compare_names_its_baseline_folder():
    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "100"})
    assert "Usage: bnbench compare [OPTIONS] {BASELINE_DIR} {DIR}" in result.output
    assert "The first folder is the baseline" in result.output
