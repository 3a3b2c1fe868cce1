"""Damaged files in a results folder: a cut-short runs.csv row is repaired, every other damage is one line
naming the file (exit 2) through both `--resume` and `report`, and a foreign checkpoint is passed over."""

from __future__ import annotations

import argparse
import errno
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from bnbench import checkpoint
from bnbench.cli import app
from bnbench.results.atomic import append_line

from .helpers import finished_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return finished_folder(tmp_path_factory.mktemp("finished"))


@pytest.fixture
def copy(finished: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the finished folder, to damage."""
    scenario, out = finished
    shutil.copytree(out, tmp_path / "results")
    return scenario, tmp_path / "results"


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_a_cut_short_last_row_is_dropped_by_readers_and_repaired_by_resume(copy):
    scenario, out = copy
    runs_csv = out / "runs.csv"
    data = runs_csv.read_bytes()
    last_row_start = data.rstrip(b"\n").rfind(b"\n") + 1
    runs_csv.write_bytes(data[: last_row_start + 20])  # bn-s0's row cut 20 bytes in: a full disk mid-append

    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert "ignored a cut-short last row (20 characters" in one_line(report.output)

    resumed = runner.invoke(app, ["run", str(scenario), "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output
    # control-s0 is finished; bn-s0 lost its row, so it resumes from its checkpoint at step 4 and ends at once.
    assert "resuming: 1 finished, 1 continue from a checkpoint" in resumed.output
    assert runs_csv.read_bytes().endswith(b"\n")
    runs = pd.read_csv(runs_csv)
    assert runs["run_id"].tolist() == ["control-s0", "bn-s0"]
    assert runs["status"].tolist() == ["completed", "completed"] and runs["steps"].tolist() == [4, 4]
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0


def test_an_append_that_fails_midway_leaves_the_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "runs.csv"
    path.write_text("run_id,status\na-s0,completed\n", encoding="utf-8")
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        append_line(path, "b-s0,completed\n")
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_text(encoding="utf-8") == "run_id,status\na-s0,completed\n"  # the 5 bytes were cut back

    path.write_text("run_id,status\na-s0,completed\nb-s0,compl", encoding="utf-8")  # a kill: nothing cut back
    assert append_line(path, "c-s0,completed\n") == b"b-s0,compl"
    assert path.read_text(encoding="utf-8") == "run_id,status\na-s0,completed\nc-s0,completed\n"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _chunk_of_a_run_in_progress(out: Path) -> Path:
    chunk = out / "runs" / "ghost-s0" / "curves-000000.parquet"
    chunk.parent.mkdir(parents=True)
    shutil.copy(out / "curves.parquet", chunk)
    _truncate(chunk)
    return chunk


def _edit_runs_csv(out: Path, edit) -> Path:
    """runs.csv with `edit` applied to its rows (lists of cells, the header first)."""
    import csv
    import io

    path = out / "runs.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(edit(rows))
    path.write_text(text.getvalue(), encoding="utf-8")
    return path


def _cell(rows: list[list[str]], column: str, value: str) -> list[list[str]]:
    rows[1][rows[0].index(column)] = value  # the first run's
    return rows


def _foreign_chunk(out: Path) -> Path:
    chunk = out / "runs" / "ghost-s0" / "power-000000.parquet"
    chunk.parent.mkdir(parents=True)
    shutil.copy(out / "curves.parquet", chunk)  # intact Parquet, but the curves' columns
    return chunk


DAMAGE = {
    # name: (damage the copy, return the file named; words the message must hold)
    "runs.csv not text": (lambda out: (out / "runs.csv").write_bytes(b"\xff\xfe\x00\x81garbage\n") and out / "runs.csv",
                          "not UTF-8 text (byte 0xff at offset 0)"),
    "runs.csv empty": (lambda out: (out / "runs.csv").write_bytes(b"") or out / "runs.csv", "damaged: empty"),
    "manifest.json cut": (lambda out: _truncate(out / "manifest.json") or out / "manifest.json",
                          "move it away: a resume writes a new one"),
    "curves.parquet cut": (lambda out: _truncate(out / "curves.parquet") or out / "curves.parquet",
                           "Parquet magic bytes not found"),
    "a chunk cut": (_chunk_of_a_run_in_progress, "and resume: run ghost-s0 starts over from step 0"),
    "runs.csv a word for a number": (lambda out: _edit_runs_csv(out, lambda rows: _cell(rows, "steps", "abc")),
                                     "run 'control-s0', column 'steps': 'abc' is not a number"),
    "runs.csv a cell too many": (lambda out: _edit_runs_csv(out, lambda rows: [rows[0], rows[1] + ["x"], *rows[2:]]),
                                 "line 2 has"),
    "runs.csv no status": (lambda out: _edit_runs_csv(
        out, lambda rows: [[c for i, c in enumerate(r) if i != rows[0].index("status")] for r in rows]),
                           "no 'status' column in its header"),
    "manifest.json wrong type": (lambda out: (out / "manifest.json").write_text('{"devices": 7}') and
                                 out / "manifest.json", "'devices' is 7, not a list"),
    "power.parquet cut": (lambda out: _truncate(out / "power.parquet") or out / "power.parquet",
                          "Parquet magic bytes not found"),
    "power.parquet of curves": (lambda out: shutil.copy(out / "curves.parquet", out / "power.parquet") and
                                out / "power.parquet", "not a power table: no device, power_w, phase column"),
    "a chunk of curves as power": (_foreign_chunk, "not a power table: no device, power_w, phase column"),
    "scenario.toml not text": (lambda out: (out / "scenario.toml").write_bytes(b"name = \"\xff\"\n")
                               and out / "scenario.toml", "damaged ('utf-8' codec can't decode byte 0xff"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
@pytest.mark.parametrize("command", ["resume", "report"])
def test_each_damaged_file_is_one_line_naming_it(copy, case: str, command: str):
    scenario, out = copy
    damage, words = DAMAGE[case]
    named = damage(out)
    args = ["run", str(scenario), "--resume", str(out)] if command == "resume" else ["report", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    message = one_line(result.output)
    assert message.startswith(f"bnbench: error: {named}:") and words in message, message
    assert "Traceback" not in result.output and "Free space" not in message  # a read, not a write, failed


def test_the_manifest_hint_works(copy):
    scenario, out = copy
    _truncate(out / "manifest.json")
    assert "move it away" in runner.invoke(app, ["report", str(out)]).output
    (out / "manifest.json").unlink()
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    assert runner.invoke(app, ["run", str(scenario), "--resume", str(out)]).exit_code == 0
    assert (out / "manifest.json").exists()


def _training_state(step: int) -> dict:
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters())
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return checkpoint.capture_training(model=model, optimizer=optimizer, schedule=schedule,
                                       generator=torch.Generator(), step=step, elapsed_s=1.0, pending_losses=[],
                                       evals=[], status="running", stop_reason="")


@pytest.mark.parametrize(
    ("foreign", "reason"),
    [
        ({"format": 1, "step": 6, "weights": torch.zeros(2)}, "not a bnbench checkpoint: no evals, model"),
        ({"format": 1, "args": argparse.Namespace(lr=0.1)}, "not a bnbench checkpoint: Weights only load failed"),
    ],
)
def test_a_foreign_checkpoint_falls_back_to_the_previous_one(tmp_path: Path, foreign: dict, reason: str):
    checkpoint.save(tmp_path, 4, _training_state(4))
    torch.save(foreign, checkpoint.checkpoint_path(tmp_path, 6))  # intact zip CRCs, but not ours
    found, state, skipped = checkpoint.load_latest(tmp_path, checkpoint.TRAINING_KEYS)
    assert found is not None and found.step == 4 and state is not None and state["step"] == 4
    assert len(skipped) == 1 and "step-00000006.pt: unreadable" in skipped[0] and reason in skipped[0]
