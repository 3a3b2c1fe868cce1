"""Help in one style: every command listed whole (no '...' cut), each with an example, arguments and options
named by a word in capitals (never '{SCENARIO}', '<path>', '<int range>' or '<list[str]>'), and compare naming
its baseline folder."""

from __future__ import annotations

import re
import subprocess

import pytest
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()
COMMANDS = ("validate", "run", "measure", "plan", "tea", "devices", "doctor", "schema", "report", "compare",
            "export", "eval")


def test_every_command_is_checked_here():
    assert {c.name or c.callback.__name__ for c in app.registered_commands} == set(COMMANDS)


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
    usage = result.output.splitlines()[0]
    assert not re.search(r"[{}<>]", usage), usage  # 'SCENARIO', not '{SCENARIO}'
    described = result.output[result.output.index("Arguments:" if "Arguments:" in result.output else "Options:"):]
    assert not re.search(r"<[a-z\[\] ]+>", described), described  # 'ENERGY', '-n, --runs N', not '<str>'


def test_arguments_are_named_as_in_the_usage_line():
    result = runner.invoke(app, ["measure", "--help"], env={"COLUMNS": "100"})
    assert result.output.startswith("Usage: bnbench measure [OPTIONS] COMMAND...\n"), result.output
    assert re.search(r"^  COMMAND\.\.\. +The command \(after --\)", result.output, re.M), result.output
    result = runner.invoke(app, ["validate"], env={"COLUMNS": "100"})
    assert result.exit_code == 2 and "Usage: bnbench validate [OPTIONS] SCENARIO\n" in result.output


def test_compare_names_its_baseline_folder():
    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "100"})
    assert "Usage: bnbench compare [OPTIONS] BASELINE_DIR DIR" in result.output
    assert re.search(r"^  BASELINE_DIR +The baseline results folder \(A\)", result.output, re.M), result.output
    assert "The first folder is the baseline" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_each_example_is_a_line_a_shell_accepts_and_fits_80_columns(command):
    # An example is there to be copied: tea's '(the paper's night: 540 cups of tea)' after the command was a
    # shell syntax error; a note is a '# comment'.
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "100"})
    examples = [line.strip() for line in result.output.splitlines() if line.strip().startswith("bnbench ")]
    assert examples, result.output
    for example in examples:
        assert len(example) + 4 <= 80, example  # as indented under 'Example:', it fits an 80-column terminal
        checked = subprocess.run(["bash", "-n", "-c", example], capture_output=True, text=True)
        assert checked.returncode == 0, (example, checked.stderr)
