"""Each run writes its meter window to its run.log: when its meter opened and last read, and each device's joules
over every phase, so a check outside the run can hold the runs' shares against a board's own counter."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.energy.meter_window import MeterWindow, parse_window, window_line
from bnbench.results.schema import ENERGY_PHASES


def test_a_window_line_reads_back() -> None:
    window = MeterWindow(1764858000.1234, 1764858012.4567, {"cuda:0": 1234.5, "host": math.nan})
    line = window_line(window)
    assert line == "meter window: unix 1764858000.123 to 1764858012.457 s; cuda:0 1234.500 J, host nan J"
    back = parse_window(f"2026-12-04T14:00:00+00:00 {line}")
    assert back is not None
    assert (back.opened_s, back.closed_s, back.device_j["cuda:0"]) == (1764858000.123, 1764858012.457, 1234.5)
    assert math.isnan(back.device_j["host"]) and back.gpu_j == 1234.5
    assert parse_window("2026-12-04T14:00:00+00:00 completed after 4 steps, 0.3 s") is None
    assert math.isnan(MeterWindow(0.0, 1.0, {"host": 5.0}).gpu_j)  # a CPU run has no GPU joules, not 0


def test_every_run_logs_its_window_and_its_joules_over_every_phase(digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    assert len(runs) == 4
    for run_id, row in runs.iterrows():
        lines = (out / "runs" / str(run_id) / "run.log").read_text(encoding="utf-8").splitlines()
        windows = [w for w in map(parse_window, lines) if w is not None]
        assert len(windows) == 1, lines  # one attempt, one window
        window = windows[0]
        started = pd.Timestamp(row["started_at"]).timestamp()
        ended = pd.Timestamp(row["ended_at"]).timestamp()
        # started_at and ended_at are to the second; the window lies inside them, to the millisecond.
        assert started - 1 <= window.opened_s < window.closed_s <= ended + 1
        # The devices' joules over the window are every phase's (setup and warm-up too), which runs.csv adds up
        # across the devices; energy_j leaves start-up out, so it is less.
        every_phase_j = sum(row[f"energy_{phase}_j"] for phase in ENERGY_PHASES)
        assert sum(window.device_j.values()) == pytest.approx(every_phase_j, abs=0.005)  # to the millijoule
        assert every_phase_j > row["energy_j"]

