"""A run that crashes (out of memory) fails alone; a full disk stops cleanly with the last checkpoint intact; a
changed scenario is refused on resume unless forced."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from bnbench import checkpoint
from bnbench.cli import app

runner = CliRunner()

SCENARIO = """
[scenario]
name = "failures"
seeds = [0]
device = "cpu"

[task]
batch_size = 8

[train]
max_steps = 4
eval_every = 4
log_every = 2
checkpoint_every = 2
threads = 1
warmup_steps = 0           # the model below counts its training calls: no warm-up calls before the run's

[energy]
idle_s = 0
"""

# A tiny custom model that runs out of memory on its third training step, as a GPU would.
BOOM_MODEL = '''
import torch
from torch import nn


class Boom(nn.Module):
    def __init__(self, io):
        super().__init__()
        self.conv = nn.Conv2d(io.in_channels, io.out_channels, 3, padding=1)
        self.calls = 0

    def forward(self, x):
        if self.training and x.device.type != "meta":
            self.calls += 1
            if self.calls == 3:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.conv(x)


def make(norm, io):
    return Boom(io)
'''


@pytest.fixture(autouse=True)
def no_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about what reaches disk during the runs; the report after them is not needed here."""
    monkeypatch.setattr("bnbench.commands.report.report_after_run", lambda root, console: None)


def _scenario(tmp_path: Path, variants: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO + variants, encoding="utf-8")
    return path


def test_an_out_of_memory_run_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "boom_model.py").write_text(BOOM_MODEL, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _scenario(tmp_path, '[[variant]]\nname = "boom"\narch = "boom_model:make"\n\n'
                               '[[variant]]\nname = "control"\n')
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])

    assert result.exit_code == 1, result.output  # some run crashed
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    assert runs.loc["boom-s0", "status"] == "failed"
    assert runs.loc["boom-s0", "error"].startswith("OutOfMemoryError: CUDA out of memory")
    assert "lower task.batch_size" in runs.loc["boom-s0", "error"]
    assert runs.loc["control-s0", "status"] == "completed" and runs.loc["control-s0", "steps"] == 4
    error_log = (out / "runs" / "boom-s0" / "error.log").read_text()
    # The 3rd step raised, so the last step known done is the checkpoint at step 2.
    assert "run boom-s0 on cpu failed after step 2" in error_log
    assert "Traceback (most recent call last)" in error_log and "in forward" in error_log
    assert "failed: OutOfMemoryError" in (out / "runs" / "boom-s0" / "run.log").read_text()


def test_a_full_disk_stops_cleanly_and_the_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _scenario(tmp_path, '[[variant]]\nname = "control"\n')
    out = tmp_path / "results"
    real_write, calls = checkpoint.atomic_write, []

    def fills_up(target: Path, write) -> None:
        calls.append(target)
        if len(calls) > 1:  # the first checkpoint (step 2) fits; the final one (step 4) does not
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(target, write)

    monkeypatch.setattr(checkpoint, "atomic_write", fills_up)
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    last_good = out / "runs" / "control-s0" / "checkpoints" / "step-00000002.pt"
    message = " ".join(result.output.split())  # one line, however the terminal wraps it
    assert "No space left on device" in message and f"the last good checkpoint is {last_good}" in message
    assert f"resume with --resume {out}" in message and "Traceback" not in result.output
    assert checkpoint.load(last_good)["step"] == 2

    monkeypatch.setattr(checkpoint, "atomic_write", real_write)  # space freed
    result = runner.invoke(app, ["run", str(path), "--resume", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["completed"] and runs["steps"].tolist() == [4]
    # The first attempt had flushed rows up to step 4 before its checkpoint failed; the resume dropped them
    # and wrote them again once: no duplicates.
    curves = pd.read_parquet(out / "curves.parquet")
    assert curves[curves["kind"] == "train"]["step"].tolist() == [2, 4]
    assert curves[curves["kind"] == "eval"]["step"].tolist() == [4]


def test_an_unwritable_output_folder_is_one_clear_line(tmp_path: Path):
    path = _scenario(tmp_path, '[[variant]]\nname = "control"\n')
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--out", str(blocker / "results")])
    assert result.exit_code == 2 and "cannot write results" in result.output and "Traceback" not in result.output


def test_a_changed_scenario_is_refused_unless_forced(tmp_path: Path):
    path = _scenario(tmp_path, '[[variant]]\nname = "control"\n')
    out = tmp_path / "results"
    assert runner.invoke(app, ["run", str(path), "--out", str(out)]).exit_code == 0

    again = runner.invoke(app, ["run", str(path), "--out", str(out)])  # the same --out again: a resume
    assert again.exit_code == 0 and "nothing left to resume: all 1 run" in again.output

    changed = runner.invoke(app, ["run", str(path), "--resume", str(out), "--set", "train.lr=0.01"])
    assert changed.exit_code == 2
    message = " ".join(changed.output.split())
    assert "the scenario changed since these results were written: train.lr 0.001 -> 0.01" in message
    assert "--force" in message

    # Forced on a finished folder: no run would train with the change, so the folder is left as the runs left it.
    forced = runner.invoke(app, ["run", str(path), "--resume", str(out), "--set", "train.lr=0.01", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "the changed settings are not applied" in " ".join(forced.output.split())
    assert "resumes" not in json.loads((out / "manifest.json").read_text())
    assert "lr = 0.01" not in (out / "scenario.toml").read_text()


def test_a_full_disk_inside_torch_save_stops_the_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _scenario(tmp_path, '[[variant]]\nname = "control"\n\n[[variant]]\nname = "bn"\nnorm = "batch"\n')
    out = tmp_path / "results"
    real_save, calls = torch.save, []

    def fills_up(obj: object, handle) -> None:
        calls.append(1)
        if len(calls) > 1:  # the first checkpoint (step 2) fits; the one at step 4 meets a full disk
            handle.write(b"PK\x03\x04")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        real_save(obj, handle)

    monkeypatch.setattr(torch, "save", fills_up)  # checkpoint imports torch where it saves
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda _: shutil_usage(free=0))
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output  # a storage error, not a failed run (1)
    message = " ".join(result.output.split())
    assert "cannot write the checkpoint of control-s0 at step 4" in message
    assert "No space left on device (torch.save: [enforce fail at inline_container.cc:672]" in message
    assert f"resume with --resume {out}" in message and "Traceback" not in result.output
    assert pd.read_csv(out / "runs.csv").empty  # no run recorded as failed, and bn-s0 never started
    assert not (out / "runs" / "bn-s0").exists()


def shutil_usage(free: int):
    import shutil

    return shutil._ntuple_diskusage(total=1 << 20, used=(1 << 20) - free, free=free)  # type: ignore[attr-defined]


@pytest.fixture
def small_filesystem(tmp_path: Path):
    """A 96 KiB tmpfs: room for the folder's first files, not for a checkpoint (about 100 KiB with Adam's state)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_real_full_disk_is_one_line_and_exit_2(tmp_path: Path, small_filesystem: Path):
    path = _scenario(tmp_path, '[[variant]]\nname = "control"\n')
    out = small_filesystem / "results"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "bnbench: error: cannot write the checkpoint of control-s0 at step 2" in message
    assert "No space left on device" in message
    assert "Traceback" not in result.output
    assert not list(out.rglob("*.tmp"))  # the temporary file of the failed write was removed
