"""A session stopped before it wrote its first file leaves nothing that a later --resume refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from tests.conftest import TINY_SCENARIO


def resume_start_up_files(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`bnbench run tiny.toml --resume results` (one seed, 2 steps) where results holds only `files`; asserts it
    trained both runs afresh, and returns what it printed."""
    (tmp_path / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    out = tmp_path / "results"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bnbench", "run", "tiny.toml", "--resume", "results",
                             "--set", "scenario.seeds=[0]", "--set", "train.max_steps=2"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = (out / "runs.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",completed," in row for row in rows[1:]), rows  # control-s0 and bn-s0
    return result


def test_a_folder_holding_only_a_lock_is_resumed_afresh(tmp_path: Path):
    # What a kill -9 during start-up leaves: the folder and its lock, nothing else.
    result = resume_start_up_files(tmp_path, {".lock": "12345\n"})
    assert "results holds only the lock of a session stopped before its first run was written: starting it " \
           "afresh" in result.stdout


def test_a_ctrl_c_before_the_first_file_leaves_no_folder_behind(tmp_path: Path):
    (tmp_path / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "bnbench", "run", "tiny.toml", "--out", "results"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "results" / ".lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    # Either the signal came before the first file (the folder is gone) or after (a folder --resume takes).
    folder = tmp_path / "results"
    assert not folder.exists() or (folder / "runs.csv").is_file(), os.listdir(folder)


# `python -m ctrl_c WHERE ARGS...`: `bnbench ARGS` that gets one SIGINT at WHERE, sent from code run from source
# text, as a Ctrl-C lands while dataclasses, namedtuple or typing make a class's methods during an import.
CTRL_C_IN_SOURCE_TEXT = """
import gc, os, signal, sys

from bnbench.cli import main

def ctrl_c():
    exec("signal.raise_signal(signal.SIGINT)", {"signal": signal})

where = sys.argv.pop(1)
if where == "lock":  # as the lock file is opened: bnbench run's start-up
    real_open = os.open

    def open_then_ctrl_c(path, *args, **kwargs):
        fd = real_open(path, *args, **kwargs)
        if str(path).endswith(".lock"):
            ctrl_c()
        return fd

    os.open = open_then_ctrl_c
elif where == "exit":  # once the command has ended, in main's last step
    real_freeze = gc.freeze

    def ctrl_c_then_freeze():
        ctrl_c()
        real_freeze()

    gc.freeze = ctrl_c_then_freeze
main()
"""


def ctrl_c_in_source_text(tmp_path: Path, where: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m ctrl_c WHERE run tiny.toml --out results ARGS` in tmp_path: as `python -m bnbench`, whose end
    CPython changes after a KeyboardInterrupt left code run from source text."""
    (tmp_path / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    (tmp_path / "ctrl_c.py").write_text(CTRL_C_IN_SOURCE_TEXT, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "ctrl_c", where, "run", "tiny.toml", "--out", "results", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_a_ctrl_c_in_source_text_during_start_up_exits_130(tmp_path: Path):
    # The flaky subprocess test above, made certain: caught as it is, the interrupt must not end the process as
    # a SIGINT death (-2) once the folder is cleaned up.
    result = ctrl_c_in_source_text(tmp_path, "lock")
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "results").exists(), os.listdir(tmp_path / "results")


def test_a_ctrl_c_after_the_command_ended_exits_130(tmp_path: Path):
    # Every run finished and written; the Ctrl-C lands in the command line's last step, past typer's handling.
    result = ctrl_c_in_source_text(tmp_path, "exit", "--set", "scenario.seeds=[0]", "--set", "train.max_steps=2")
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    rows = (tmp_path / "results" / "runs.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",completed," in row for row in rows[1:]), rows  # control-s0 and bn-s0


def _ctrl_c_when(monkeypatch: pytest.MonkeyPatch, module: object, name: str, hit: Callable[[str], bool]) -> None:
    """Make `module.name` (an open or a write) do its work, then raise KeyboardInterrupt as a Ctrl-C landing
    just as it returns would, for the paths where `hit` is true."""
    real = getattr(module, name)

    def patched(path: object, *args: object, **kwargs: object) -> object:
        result = real(path, *args, **kwargs)
        if hit(str(path)):
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(module, name, patched)


def test_a_ctrl_c_as_the_lock_is_opened_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The lock file exists and its descriptor is not yet bound: the window a signal sent on seeing the lock hits.
    from bnbench.results import lock

    (tmp_path / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _ctrl_c_when(monkeypatch, lock.os, "open", lambda path: path.endswith(".lock"))
    result = CliRunner().invoke(app, ["run", "tiny.toml", "--out", "results"])
    assert result.exit_code == 130, result.output
    assert not (tmp_path / "results").exists(), os.listdir(tmp_path / "results")


def test_a_ctrl_c_between_the_first_files_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # scenario.toml written, manifest.json's temporary renamed: runs.csv, which makes it a results folder, not yet.
    from bnbench.results import atomic

    (tmp_path / "tiny.toml").write_text(TINY_SCENARIO, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _ctrl_c_when(monkeypatch, atomic.os, "replace", lambda path: ".manifest.json." in path)
    result = CliRunner().invoke(app, ["run", "tiny.toml", "--out", "results"])
    assert result.exit_code == 130, result.output
    assert not (tmp_path / "results").exists(), os.listdir(tmp_path / "results")


def test_a_folder_of_start_up_files_is_resumed_afresh(tmp_path: Path):
    # What a kill -9 between the first files leaves: the lock, scenario.toml and a manifest's temporary.
    result = resume_start_up_files(tmp_path, {".lock": "12345\n", "scenario.toml": TINY_SCENARIO,
                                              ".manifest.json.k2x9q1.tmp": '{"bnbench_ver'})
    assert "results holds only the first files of a session stopped before its first run was written: starting " \
           "it afresh" in result.stdout
