"""Small losses at the edges of a session: a signal during the idle baseline or the report, a reader that
closes the pipe, and a scenario's description that reports must quote safely."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.commands.energy import idle_baseline
from bnbench.scenario import EnergyConfig

from .helpers import QUICK, bnbench_process, finished_folder, tiny_sets

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return finished_folder(tmp_path_factory.mktemp("finished"))


def reading_rapl_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A RAPL package that reads (a file): the estimate alone would skip the baseline, it cannot see idle power."""
    package = tmp_path / "powercap" / "intel-rapl:0"
    package.mkdir(parents=True)
    for name, text in (("name", "package-0"), ("energy_uj", "1000000"), ("max_energy_range_uj", "262143328850")):
        (package / name).write_text(f"{text}\n")
    monkeypatch.setenv("BNBENCH_POWERCAP", str(tmp_path / "powercap"))


class PolledOnly(threading.Event):
    """A stop that the main thread must poll: the signal handler sets it on that thread, so a `wait` holding the
    Event's lock when a signal lands would leave the handler waiting on its own thread for ever."""

    def wait(self, timeout: float | None = None) -> bool:
        raise AssertionError("the main thread blocked in stop.wait(); a signal landing there would deadlock")


def test_the_idle_baseline_polls_its_stop_and_ends_soon_after_it_is_set(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    reading_rapl_package(tmp_path, monkeypatch)
    stop = PolledOnly()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    entries = idle_baseline(["cpu"], EnergyConfig(idle_s=600), Console(file=io.StringIO()), stop)
    assert time.monotonic() - started < 5  # not the 600 s asked for
    assert entries["idle_w"] == {"cpu": 0.0}  # a counter that never moved: 0 J over the seconds waited
    assert entries["idle_sources"] == {"cpu": "rapl"}


def test_sigterm_during_the_idle_baseline_saves_and_exits_143(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    reading_rapl_package(tmp_path, monkeypatch)
    out = tmp_path / "results"
    process = bnbench_process(["run", str(QUICK), *tiny_sets(4, 4, 2), "--set", "energy.idle_s=600", "--out",
                               str(out)], cwd=tmp_path)
    seen = ""
    while "idle baseline: 600 s" not in seen:  # the line printed as the baseline starts
        line = process.stdout.readline()
        assert line, f"bnbench ended before its idle baseline:\n{seen}"
        seen += line
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143, seen + output
    assert time.monotonic() - sent < 15  # not the 600 s of the baseline
    assert f"interrupted during the idle baseline: nothing trained yet; resume with --resume {out}" in " ".join(
        output.split())
    assert (out / "runs.csv").read_text().count("\n") == 1  # the header, no run; a resume starts both runs


def test_ctrl_c_while_the_report_is_written_says_so_and_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bnbench.rendering.report.write_reports", interrupted)
    scenario = tmp_path / "tiny.toml"
    shutil.copy(QUICK, scenario)
    result = runner.invoke(app, ["run", str(scenario), *tiny_sets(2, 2, 2), "--set", "scenario.seeds=[0]",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 130, result.output
    message = " ".join(result.output.split())
    assert f"interrupted while writing the report: the results are saved; rebuild it with: bnbench report " \
           f"{tmp_path / 'out'}" in message


def test_a_closed_pipe_ends_report_quietly(finished):
    _, out = finished
    # `bnbench report DIR | head -1` once head has exited: every write meets a pipe nobody reads.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.run([sys.executable, "-m", "bnbench", "report", str(out)],
                                 stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert process.returncode == 0, process.stderr.decode()
    assert process.stderr == b""


def test_the_description_is_escaped_and_capped_in_report_md(finished, tmp_path: Path):
    _, original = finished
    out = tmp_path / "results"
    shutil.copytree(original, out)
    scenario_toml = out / "scenario.toml"
    description = "<img src=x onerror=alert(1)> *x* " + "y" * 5000
    scenario_toml.write_text(scenario_toml.read_text().replace('description = "Two tiny runs."',
                                                               f'description = "{description}"'))
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text()
    assert "<img" not in markdown and "&lt;img src=x onerror=alert(1)&gt; \\*x\\* " in markdown
    # 2000 characters quoted: the 33 before the y's and 1967 y's; the other 3033 are left in scenario.toml.
    assert "y" * 1967 + "... (3033 more characters in scenario.toml)" in markdown
    assert "y" * 1968 not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;" in (out / "report.html").read_text()
