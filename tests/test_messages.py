"""Messages a user reads: one clear line for each mistake, counts in words, help that shows what takes a value."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()

HEAD = '[scenario]\nname = "t"\n'


def error_of(write_scenario, text: str) -> str:
    result = runner.invoke(app, ["validate", str(write_scenario(text))])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output.strip()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # The value is quoted once, at the end, whatever the rule that refused it.
        ("seeds = [-1, 0]\n", "[scenario] seeds: must be >= 0 (got [-1, 0])"),
        ("seeds = []\n", "[scenario] seeds: needs at least one seed, e.g. seeds = [0, 1] (got [])"),
        # TOML has types: a quoted or fractional number is a mistake, not a value to coerce.
        ('[train]\nmax_steps = "800"\n', "[train] max_steps: must be a whole number, written without quotes or a "
                                         "decimal point (e.g. 800) (got '800')"),
        ("[train]\nmax_steps = 800.0\n", "[train] max_steps: must be a whole number"),
        ('[train]\nlr = "0.001"\n', "[train] lr: must be a number, written without quotes (e.g. 0.001) (got '0.001')"),
        ('[train]\ngraph = "yes"\n', "[train] graph: must be true or false, written without quotes"),
        ('[train]\ncompile = "yes"\n', "[train] compile: Input should be 'none', 'default', 'reduce-overhead' or "
                                       "'max-autotune' (got 'yes')"),
        ("[train]\ngraph = true\ncompile = true\n", "[train]: graph = true and compile = 'default' are two training "
                                                   "loops; choose one"),
    ],
)
def test_a_bad_value_is_said_once(write_scenario, body, expected):
    message = error_of(write_scenario, HEAD + body)
    assert expected in message
    assert message.count("(got ") <= 1


def test_an_integer_where_a_float_is_expected_is_fine(write_scenario):
    result = runner.invoke(app, ["validate", str(write_scenario(HEAD + "[train]\nlr = 1\n"))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("norm", "meant"), [("batchnorm", "batch"), ("BatchNorm", "batch"), ("bn", "batch"),
                                             ("groupnorm", "group"), ("syncbn", "syncbatch"),
                                             ("batchrenrm", "batchrenorm")])
def test_a_common_spelling_of_a_norm_suggests_the_registered_name(write_scenario, norm, meant):
    message = error_of(write_scenario, HEAD + f'[model]\nnorm = "{norm}"\n')
    assert f"unknown norm '{norm}'; did you mean '{meant}'?" in message


def test_one_run_is_one_run(write_scenario):
    result = runner.invoke(app, ["validate", str(write_scenario(HEAD))])
    assert result.exit_code == 0, result.output
    assert "t: 1 run" in result.output and "1 runs" not in result.output


@pytest.mark.parametrize("command", ["run", "report", "tea", "validate", "compare", "eval", "devices"])
def test_help_shows_no_value_for_a_flag(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    if command == "run":
        assert "--force " in result.output and "--out DIR" in result.output
    if command == "tea":  # brackets in a help text are printed, not swallowed as markup
        assert "[default: 33.3, the paper's 18 kWh / 540 cups]" in " ".join(result.output.split())
