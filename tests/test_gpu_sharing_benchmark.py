"""benchmarks/gpu_sharing.py's conservation check, from a hand-made results folder and counter readings: the runs'
GPU joules over their whole meter windows against the board's counter over the union of those windows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_sharing import (
    Conservation,
    Session,
    conservation,
    counter_at,
    merged,
    meter_windows,
    packing_gains,
)
from bnbench.energy.meter_window import MeterWindow, window_line

REPO = Path(__file__).resolve().parent.parent

# The board's counter (J) read at these Unix seconds: 80 W idle before 100 s, 120 W from 100 to 105 s, 200 W from
# 105 to 110 s (two runs packed), 120 W to 120 s, 80 W idle from 120 to 130 s (no run), 100 W to 135 s, 80 W after.
READINGS = [(99.0, 0.0), (100.0, 80.0), (105.0, 680.0), (110.0, 1680.0), (120.0, 2880.0), (125.0, 3280.0),
            (130.0, 3680.0), (135.0, 4180.0), (136.0, 4260.0)]


def log(folder: Path, run_id: str, *windows: MeterWindow) -> None:
    lines = ["2026-12-04T14:00:00+00:00 attempt started on cuda:0",
             *(f"2026-12-04T14:00:10+00:00 {window_line(w)}" for w in windows),
             "2026-12-04T14:00:10+00:00 completed after 600 steps, 10.0 s"]
    (folder / "runs" / run_id).mkdir(parents=True)
    (folder / "runs" / run_id / "run.log").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_runs_shares_against_the_board_over_the_union_of_their_windows(tmp_path: Path) -> None:
    # control-s0 and bn-s0 packed on one GPU (100-110 s and 105-120 s), then bn-s1 alone (130-135 s) after a gap.
    log(tmp_path, "control-s0", MeterWindow(100.0, 110.0, {"cuda:0": 1000.0, "host": 50.0}))
    log(tmp_path, "bn-s0", MeterWindow(105.0, 120.0, {"cuda:0": 1800.0, "host": 80.0}))
    log(tmp_path, "bn-s1", MeterWindow(130.0, 135.0, {"cuda:0": 495.0, "host": 20.0}))
    (tmp_path / "runs.csv").write_text("run_id\n", encoding="utf-8")  # not read: runs.csv has no such windows
    windows = meter_windows(tmp_path)
    assert sorted(w.opened_s for w in windows) == [100.0, 105.0, 130.0]
    check = conservation(windows, READINGS)
    # The union is 100-120 s and 130-135 s (25 s): the board counted 2880 - 80 = 2800 J and 4180 - 3680 = 500 J,
    # 3300 J; the idle gap between (800 J) is in no window. The runs' GPU joules: 1000 + 1800 + 495 = 3295 J (the
    # host's are not the board's), 5 J short: -0.15%.
    assert (check.runs_j, check.board_j, check.covered_s) == (3295.0, 3300.0, 25.0)
    assert check.gap == pytest.approx(3295 / 3300 - 1) and round(check.gap, 5) == -0.00152


def test_a_resumed_run_has_one_window_per_attempt(tmp_path: Path) -> None:
    log(tmp_path, "bn-s0", MeterWindow(100.0, 105.0, {"cuda:0": 600.0}), MeterWindow(130.0, 135.0, {"cuda:0": 500.0}))
    check = conservation(meter_windows(tmp_path), READINGS)
    # 600 J over 100-105 s, then 500 J over 130-135 s: the board 600 + 500 J over 10 s, the time between not counted.
    assert (check.runs_j, check.board_j, check.covered_s, check.gap) == (1100.0, 1100.0, 10.0, 0.0)


def test_the_counter_holds_its_value_between_readings() -> None:
    # A meter reading the counter at 107.5 s saw what it showed since the 105 s reading (it moves in steps).
    assert counter_at(READINGS, 107.5) == 680.0 and counter_at(READINGS, 110.0) == 1680.0
    with pytest.raises(ValueError, match="no counter reading around 98.000"):
        counter_at(READINGS, 98.0)
    with pytest.raises(ValueError, match="no counter reading around 137.000"):
        counter_at(READINGS, 137.0)
    assert merged([(5.0, 6.0), (1.0, 3.0), (2.0, 4.0), (4.0, 4.5)]) == [(1.0, 4.5), (5.0, 6.0)]


def test_without_nvml_the_benchmark_says_so_in_one_line() -> None:
    from bnbench.energy import nvml

    try:
        nvml.load_nvml()
    except Exception:  # noqa: BLE001 - no NVML here, which is what this test needs
        pass
    else:
        pytest.skip("NVML is present: the benchmark would run for minutes")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_sharing.py")], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("gpu_sharing: needs an NVIDIA GPU and NVML (")


def test_an_out_folder_already_used_is_refused(tmp_path: Path) -> None:
    # A second session in the same folder would resume the first's finished runs, whose windows lie before
    # this session's counter readings.
    (tmp_path / "pack-1").mkdir()
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_sharing.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(f"{tmp_path} is not empty: give a fresh --out")


def test_packing_gains_against_one_run_a_gpu() -> None:
    # One run a GPU: 30 s, runs of 200 and 100 J of GPU (300 and 130 J in all, 100 and 30 J of host): mean 150 J.
    # Four a GPU: 12 s, runs of 60 and 40 J: mean 50 J. So 2.50x faster and 3.00x lower.
    def rows(*pairs: tuple[float, float]) -> list[dict[str, str]]:
        return [{"energy_j": str(total), "energy_host_j": str(host)} for total, host in pairs]

    check = Conservation(0.0, 0.0, 0.0)
    sessions = {1: Session(30.0, 0.0, rows((300.0, 100.0), (130.0, 30.0)), "", check),
                4: Session(12.0, 0.0, rows((70.0, 10.0), (45.0, 5.0)), "", check)}
    assert packing_gains(sessions) == ["runs_per_gpu 4 against 1: session 2.50x faster (30.0 s -> 12.0 s), mean "
                                       "run's GPU joules 3.00x lower (150 J -> 50 J)"]
    assert packing_gains({4: sessions[4]}) == []
