"""A reader that stops reading (`| head -1`) stops bnbench's writing, never its work or its exit code; piped
output is never wrapped, whatever the length of the path it names. Real pipes, through a shell."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_SCENARIO

BNBENCH = f"{shlex.quote(sys.executable)} -m bnbench"


def piped(arguments: str, reader: str, cwd: Path, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """`bnbench ARGUMENTS | READER` in bash; the exit code is bnbench's (the pipe's first command)."""
    script = f"{BNBENCH} {arguments} | {reader}; exit ${{PIPESTATUS[0]}}"
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout_s)


@pytest.fixture(scope="module")
def headed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`bnbench run tiny.toml --out results | head -1` for one seed: the folder and what the shell saw."""
    root = tmp_path_factory.mktemp("pipe")
    (root / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    result = piped("run tiny.toml --set scenario.seeds=[0] --out results", "head -1", root)
    return root, result


def test_run_under_head_1_trains_every_run_and_says_where_the_results_are(headed):
    root, result = headed
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("bnbench ") and result.stdout.count("\n") == 1  # head's one line
    # Both runs of the one seed trained to their end, though nobody read past the first line.
    rows = (root / "results" / "runs.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",completed," in row for row in rows[1:]), rows
    assert (root / "results" / "report.md").is_file()
    assert "bnbench: results: results (bnbench report results)" in result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


@pytest.mark.parametrize("arguments", ["validate tiny.toml", "devices", "plan tiny.toml --pilot results",
                                       "eval results --run control-s0", "report results",
                                       "compare results results"])
def test_every_command_exits_as_unpiped_when_its_reader_has_gone(headed, arguments):
    root, _ = headed
    # `head -n 0` exits before reading: every write bnbench makes meets a pipe nobody reads.
    result = piped(arguments, "head -n 0", root)
    assert result.returncode == 0, (arguments, result.stderr)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr


@pytest.mark.parametrize("arguments", ["--help", "--version", "run --help", "tea 5mWh", "schema"])
def test_help_version_and_commands_without_a_folder_exit_0_when_their_reader_has_gone(tmp_path, arguments):
    result = piped(arguments, "head -n 0", tmp_path)
    assert result.returncode == 0, (arguments, result.stderr)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr


def test_piped_validate_keeps_each_sentence_on_one_line(tmp_path):
    # A path of 150 characters: at 80 columns the sentence naming it would break in two.
    folder = tmp_path / ("a-rather-long-folder-name-" * 6)
    folder.mkdir()
    (folder / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    result = piped("validate tiny.toml", "cat", folder)
    assert result.returncode == 0, result.stderr
    assert "scenario 'tiny' from tiny.toml is valid" in result.stdout.splitlines()
    result = piped(f"validate {shlex.quote(str(folder / 'tiny.toml'))}", "cat", tmp_path)
    assert f"scenario 'tiny' from {folder / 'tiny.toml'} is valid" in result.stdout.splitlines()


def test_validate_through_clirunner_keeps_a_long_path_on_one_line(tmp_path):
    from typer.testing import CliRunner

    from bnbench.cli import app

    # What a test of the CLI reads must not depend on the length of the path it runs from.
    folder = tmp_path / ("a-rather-long-folder-name-" * 6)
    folder.mkdir()
    (folder / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(folder / "tiny.toml")])
    assert result.exit_code == 0, result.output
    assert f"scenario 'tiny' from {folder / 'tiny.toml'} is valid" in result.output.splitlines()


def test_doctor_runs_every_check_when_its_reader_has_gone(tmp_path):
    import json

    # `doctor --quick` unpiped and with stdout closed at once: the same checks end in doctor.json.
    plain = subprocess.run([sys.executable, "-m", "bnbench", "doctor", "--quick", "--json", "plain.json"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    closed = piped("doctor --quick --json closed.json", "head -n 0", tmp_path, timeout_s=300)
    assert closed.returncode == plain.returncode, closed.stderr
    names = [[c.get("name") for c in json.loads((tmp_path / f).read_text())["checks"]]
             for f in ("plain.json", "closed.json")]
    assert names[1] == names[0] and len(names[0]) >= 10, names
