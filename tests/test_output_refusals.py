"""Where results go: never among someone else's files, never into folders a typo invented."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bnbench.cli import app
from tests.reliability.helpers import TINY

runner = CliRunner()


def test_out_refuses_a_folder_of_other_files(tmp_path: Path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY, encoding="utf-8")
    out = tmp_path / "photos"
    out.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "notes.txt"):
        (out / name).write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == (
        f"bnbench: error: {out}: not empty (a.jpg, b.jpg, c.jpg and 1 more) and not a bnbench results folder; "
        "give --out a new or empty folder")
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.jpg", "c.jpg", "notes.txt"]  # nothing written


def test_doctor_json_into_a_missing_folder_is_refused_not_created(tmp_path: Path):
    target = tmp_path / "no" / "such" / "x.json"
    result = runner.invoke(app, ["doctor", "--quick", "--json", str(target)])
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == (f"bnbench: error: --json {target}: no folder {target.parent}; "
                                               "create it first or name another file")
    assert not (tmp_path / "no").exists()
