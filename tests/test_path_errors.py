"""A path the file system refuses (a name over 255 bytes, a file that cannot be read) is one line and exit 2
in every command that takes a path, never an OSError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()
QUICK = Path(__file__).resolve().parents[1] / "scenarios" / "quick.toml"
LONG = "a" * 256  # one byte over the 255 that ext4, XFS, tmpfs and the others take for a name


@pytest.mark.parametrize("command", ["validate", "run --out", "report", "measure --out", "compare", "eval"])
def test_a_name_over_255_bytes_is_one_line(tmp_path: Path, command: str):
    long = tmp_path / LONG
    args = {"validate": ["validate", f"{long}.toml"], "run --out": ["run", str(QUICK), "--out", str(long / "x")],
            "report": ["report", str(long)], "measure --out": ["measure", "--out", str(long), "--", "true"],
            "compare": ["compare", str(long), str(tmp_path)], "eval": ["eval", str(long), "--run", "control-s0"]}
    result = runner.invoke(app, args[command])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bnbench: error: {long}"), result.output
    assert lines[0].endswith("File name too long (a file system takes file and folder names of up to 255 bytes)")


def test_an_unreadable_scenario_is_one_line():
    path = Path("/proc/1/mem")  # refused even to root in a container; readable nowhere as a scenario
    try:
        path.open("rb").close()
    except OSError:
        pass
    else:
        pytest.skip("this host lets /proc/1/mem be opened")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == ["bnbench: error: /proc/1/mem: Permission denied"]
